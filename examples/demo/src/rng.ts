/** A small seeded RNG (mulberry32): `--seed N` makes the demo's output reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A VtepMAC as flanneld (v0.28) makes one for `flannel.1`: six random bytes, the first turned
 * into a locally administered unicast octet (`(b & 0xfe) | 0x02`).
 */
export function randomVtepMAC(random: () => number): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(random() * 256));
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
