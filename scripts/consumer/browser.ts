// Core in a browser: typechecked with `lib: ["es2022", "dom"]` and no Node types, bundled by
// esbuild for `platform: "browser"`.
import { MemoryLeaseStore, parseNetworkConfig } from "@flannel-sdk/core";
import { networkConfigSchema } from "@flannel-sdk/core/schema";

const text = '{"Network":"10.5.0.0/16"}';
export const config = parseNetworkConfig(text);
const store = new MemoryLeaseStore({ config: text });
export const ready = store
  .acquireLease({
    publicIP: "192.0.2.10",
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1 },
    backendV6Data: null,
  })
  .then((lease) => lease.subnet);
export const valid = networkConfigSchema.safeParse({ Network: "10.5.0.0/16" }).success;
