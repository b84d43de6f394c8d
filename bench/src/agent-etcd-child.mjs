// The bench's hand inside the etcd namespace (started there with `ip netns exec`): it writes the
// config and the fake leases over etcd's own HTTP APIs on the namespace's loopback, so the runner
// never addresses anything outside the namespaces it made. One JSON command per stdin line, one
// JSON answer per stdout line; `at` is CLOCK_MONOTONIC in ns, comparable with the runner's
// `process.hrtime.bigint()` (one clock per machine on Linux).
import { createInterface } from "node:readline";

const ETCD = "http://127.0.0.1:2379";
const b64 = (s) => Buffer.from(s).toString("base64");

async function post(path, body) {
  const r = await fetch(`${ETCD}${path}`, { method: "POST", body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

async function v2put(key, value, ttl) {
  const form = new URLSearchParams({ value });
  if (ttl) form.set("ttl", String(ttl));
  const r = await fetch(`${ETCD}/v2/keys${key}`, { method: "PUT", body: form });
  if (!r.ok) throw new Error(`${key}: HTTP ${r.status} ${await r.text()}`);
}

/** A v3 put bound to a fresh 24 h etcd lease, as a real node's lease is. */
async function v3put(key, value, ttl) {
  let lease;
  if (ttl) lease = (await post("/v3/lease/grant", { TTL: String(ttl) })).ID;
  await post("/v3/kv/put", { key: b64(key), value: b64(value), ...(lease ? { lease } : {}) });
}

async function pool(n, width, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

async function run(cmd) {
  const put = cmd.api === "v2" ? v2put : v3put;
  switch (cmd.op) {
    case "put":
      await put(cmd.key, cmd.value, cmd.ttl);
      return {};
    case "puts":
      await pool(cmd.items.length, 64, (i) =>
        put(cmd.items[i].key, cmd.items[i].value, cmd.items[i].ttl),
      );
      return {};
    case "delPrefix":
      if (cmd.api === "v2") {
        const r = await fetch(`${ETCD}/v2/keys${cmd.prefix}?recursive=true`, { method: "DELETE" });
        if (!r.ok && r.status !== 404) throw new Error(`delete ${cmd.prefix}: HTTP ${r.status}`);
      } else {
        const end =
          cmd.prefix.slice(0, -1) + String.fromCharCode(cmd.prefix.at(-1).charCodeAt(0) + 1);
        await post("/v3/kv/deleterange", { key: b64(cmd.prefix), range_end: b64(end) });
      }
      return {};
    case "health":
      for (let i = 0; ; i++) {
        try {
          const r = await fetch(`${ETCD}/health`);
          if (r.ok) return {};
        } catch {}
        if (i > 200) throw new Error("etcd did not become healthy in 20 s");
        await new Promise((r) => setTimeout(r, 100));
      }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  try {
    await run(cmd);
    process.stdout.write(
      `${JSON.stringify({ id: cmd.id, at: String(process.hrtime.bigint()) })}\n`,
    );
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ id: cmd.id, error: String(e?.message ?? e) })}\n`);
  }
}
