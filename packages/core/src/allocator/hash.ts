/**
 * A stable 128-bit hash of a node identity (its PublicIP, its name): FNV-1a over the UTF-16
 * code units in four lanes with different offset bases, each lane finished with murmur3's
 * fmix32. Stable across runs and platforms because the `hashed` strategy relies on a node
 * starting its search at the same place every time.
 * @internal
 */
export function hashIdentity(identity: string): [number, number, number, number] {
  let h0 = 0x811c9dc5;
  let h1 = 0x01000193;
  let h2 = 0x9e3779b9;
  let h3 = 0x85ebca6b;
  for (let i = 0; i < identity.length; i++) {
    const c = identity.charCodeAt(i);
    h0 = Math.imul(h0 ^ c, 0x01000193);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193);
    h3 = Math.imul(h3 ^ c, 0x01000193);
  }
  return [fmix(h0 ^ identity.length), fmix(h1 ^ 1), fmix(h2 ^ 2), fmix(h3 ^ 3)];
}

function fmix(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash reduced to a start index in [0, n). @internal */
export function hashIndex(identity: string, n: bigint): bigint {
  const [a, b, c, d] = hashIdentity(identity);
  const wide = (BigInt(a) << 96n) | (BigInt(b) << 64n) | (BigInt(c) << 32n) | BigInt(d);
  return wide % n;
}

/** {@link hashIndex} for n < 2^37, in number arithmetic (16 bits at a time stays exact). @internal */
export function hashIndexSmall(identity: string, n: number): number {
  let x = 0;
  for (const word of hashIdentity(identity)) {
    x = (x * 0x10000 + (word >>> 16)) % n;
    x = (x * 0x10000 + (word & 0xffff)) % n;
  }
  return x;
}
