/**
 * `@flannel-sdk/core/schema`: the zod schema of a flannel network config document and its JSON
 * Schema export. A subpath of its own so that `import "@flannel-sdk/core"` does not load zod
 * (about 14 MB of RSS in Node, and the bulk of a browser bundle); `parseNetworkConfig`, the
 * authority on what flanneld accepts, needs none of it.
 */
export type { NetworkConfigDocument } from "../config/schema.js";
export { networkConfigJsonSchema, networkConfigSchema } from "../config/schema.js";
