// flannel's allocation walk (allocateSubnet in pkg/subnet/etcd/local_manager.go, v0.28), on plain integers:
// candidates from SubnetMin upward, each tested for overlap against every lease, until 100 are
// free; then one of them at random. Used only as the contrast in the allocator benchmark.

const mask = (len) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

/** @param {Array<[number, number]>} leases [address, prefixLen] */
export function flannelAllocate(min, max, len, leases, random) {
  const step = 2 ** (32 - len);
  const bag = [];
  outer: for (let ip = min; ip <= max && bag.length < 100; ip += step) {
    for (const [lip, llen] of leases) {
      const m = mask(Math.min(len, llen));
      if ((ip & m) >>> 0 === (lip & m) >>> 0) continue outer;
    }
    bag.push(ip);
  }
  if (bag.length === 0) throw new Error("out of subnets");
  return bag[Math.floor(random() * bag.length)];
}
