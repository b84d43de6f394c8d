#!/usr/bin/env node
// The packages as a new user meets them (issue 14): pack every package, `npm install` the
// tarballs into a fresh project, then
//   - count what the default install brings (packages, size; no gRPC, no @types/node < 20),
//   - run an ESM and a CommonJS consumer, and typecheck TS consumers under `module: nodenext`
//     and `moduleResolution: bundler`,
//   - typecheck core for a browser (`lib: es2022, dom`, no Node types) and bundle it with esbuild
//     (size reported),
//   - typecheck and run every code block of the docs (scripts/doc-blocks.mjs: on a throwaway
//     node with its own etcd and namespaces; root),
//   - run the published `flanneld-ts --help`,
//   - install the same tarballs as on macOS and on Windows (`npm_config_platform`, `--os`, and no
//     C compiler, so the native `netlink` addon cannot build, as on a machine without Xcode or
//     Visual Studio): the install must succeed, importing everything must work, and a netlink
//     socket must fail with NETLINK_UNSUPPORTED naming the platform.
// Uses the npm registry for third-party packages (`--prefer-offline`: the npm cache when it can).
// Prints its figures; `--json FILE` also writes them; `--verbose` prints what each doc block printed.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { checkDocBlocks, checkDocBlocksSelfTest } from "./doc-blocks.mjs";
import { packAll, root } from "./pack-all.mjs";

const LIBRARIES = ["core", "etcd", "render", "netlink", "diagnose"].map((n) => `@flannel-sdk/${n}`);
const work = mkdtempSync(join(tmpdir(), "flannel-sdk-consumer-"));
const figures = {};
let failed = false;

function fail(what) {
  console.error(`FAILED ${what}`);
  failed = true;
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...options });
  if (r.status !== 0) {
    fail(`${cmd} ${args.join(" ")} (exit ${r.status})\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

function project(name, extra = {}) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `consumer-${name}`, private: true, version: "0.0.0", ...extra }),
  );
  return dir;
}

function npmInstall(dir, tarballs, env = {}, args = []) {
  const started = Date.now();
  const r = run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", ...args, ...tarballs],
    { cwd: dir, env: { ...process.env, ...env } },
  );
  return { ok: r.status === 0, ms: Date.now() - started };
}

/** Packages in node_modules (every package.json of an installed package) and their size. */
function installed(dir) {
  const list = execFileSync("npm", ["ls", "--all", "--parseable"], { cwd: dir, encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes("node_modules"));
  const kb = Number(
    execFileSync("du", ["-sk", join(dir, "node_modules")], { encoding: "utf8" }).split("\t")[0],
  );
  return { packages: new Set(list).size, sizeMB: Math.round(kb / 102.4) / 10 };
}

const tsc = (dir, config) =>
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", config], {
    cwd: dir,
  });

try {
  const tgz = join(work, "tgz");
  mkdirSync(tgz);
  const packed = packAll(tgz);
  const tarballOf = (name) => packed.find((p) => p.pkg.name === name).tarball;
  figures.tarballs = Object.fromEntries(
    packed.map((p) => [
      p.pkg.name,
      { packedKB: Math.round(p.size / 1024), unpackedKB: Math.round(p.unpackedSize / 1024) },
    ]),
  );
  const libs = LIBRARIES.map(tarballOf);

  // --- Linux: the default install -------------------------------------------------------------
  const app = project("linux", { type: "module" });
  if (!npmInstall(app, libs).ok) throw new Error("the install failed");
  figures.defaultInstall = installed(app);
  const has = (p) => {
    try {
      return JSON.parse(readFileSync(join(app, "node_modules", p, "package.json"), "utf8")).version;
    } catch {
      return null;
    }
  };
  for (const grpc of ["etcd3", "@grpc/grpc-js", "protobufjs"]) {
    if (has(grpc) !== null) fail(`the default install has ${grpc} (gRPC is an optional peer)`);
  }
  const typesNode = has("@types/node");
  figures.topLevelTypesNode = typesNode;
  if (typesNode !== null && Number(typesNode.split(".")[0]) < 20) {
    fail(`@types/node ${typesNode} at the consumer's top level (older than the engine)`);
  }

  cpSync(join(root, "scripts/consumer"), app, { recursive: true });
  run(process.execPath, ["esm.mjs"], { cwd: app });
  run(process.execPath, ["cjs.cjs"], { cwd: app });
  tsc(app, "tsconfig.nodenext.json");
  tsc(app, "tsconfig.bundler.json");
  tsc(app, "tsconfig.browser.json");

  const esbuild = await import(join(root, "node_modules/esbuild/lib/main.js"));
  const bundle = await esbuild.build({
    absWorkingDir: app,
    entryPoints: ["browser.ts"],
    bundle: true,
    minify: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    logLevel: "error",
  });
  const bytes = bundle.outputFiles[0].contents;
  figures.browserBundle = {
    minifiedKB: Math.round(bytes.length / 102.4) / 10,
    gzipKB: Math.round(gzipSync(bytes).length / 102.4) / 10,
  };

  // The docs' code blocks, against the installed tarballs (not the workspace's sources): every
  // one typechecked (ts) and run on a throwaway node, or marked with the reason it cannot run.
  figures.docBlocks = await checkDocBlocks({
    root,
    app,
    work,
    fail,
    tsc,
    verbose: process.argv.includes("--verbose"),
  });
  // ...and the same check on blocks that must fail it: it lets none through.
  await checkDocBlocksSelfTest({ root, app, work, fail, tsc });

  // The agent, as `npx -p @flannel-sdk/agent flanneld-ts` would run it.
  const agent = project("agent");
  if (npmInstall(agent, [...libs, tarballOf("@flannel-sdk/agent")]).ok) {
    const r = run(join(agent, "node_modules/.bin/flanneld-ts"), ["--help"], { cwd: agent });
    if (!r.stdout.startsWith("Usage: flanneld-ts")) fail("flanneld-ts --help printed no usage");
  }

  // --- macOS and Windows, simulated ----------------------------------------------------------
  for (const platform of ["darwin", "win32"]) {
    // allowScripts: npm >= 11.10 runs no install script unless allowed; npm 10 (Node 20's) runs
    // them all. Allowing netlink's makes both try to build the addon, and fail.
    const dir = project(platform, { allowScripts: { netlink: true } });
    const env = { npm_config_platform: platform, CC: "false", CXX: "false" };
    const result = npmInstall(dir, libs, env, [`--os=${platform}`]);
    figures[`install_${platform}`] = {
      ok: result.ok,
      ms: result.ms,
      ...(result.ok ? installed(dir) : {}),
    };
    if (!result.ok) continue;
    cpSync(join(root, "scripts/consumer/offlinux.mjs"), join(dir, "offlinux.mjs"));
    run(
      process.execPath,
      [
        "--import",
        `data:text/javascript,Object.defineProperty(process,"platform",{value:${JSON.stringify(platform)}})`,
        "offlinux.mjs",
      ],
      { cwd: dir },
    );
  }
} catch (e) {
  fail(e?.stack ?? String(e));
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(JSON.stringify(figures, null, 2));
const jsonAt = process.argv.indexOf("--json");
if (jsonAt !== -1) writeFileSync(process.argv[jsonAt + 1], `${JSON.stringify(figures, null, 2)}\n`);
if (!failed) console.log("ok: the tarballs install, run and typecheck as a consumer meets them");
process.exit(failed ? 1 : 0);
