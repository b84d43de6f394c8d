export type { EtcdErrorCode } from "./errors.js";
export { expandExecStart, parseEnvironmentFile } from "./flanneld/env-file.js";
export type {
  FlanneldFlagKind,
  FlanneldFlagValues,
  ParsedFlanneldFlags,
  ParseFlanneldFlagsOptions,
} from "./flanneld/flags.js";
export { parseFlanneldFlags } from "./flanneld/flags.js";
export type { FlanneldEtcdOptions, FlanneldOptionsInput } from "./flanneld/options.js";
export { etcdOptionsFromFlanneld } from "./flanneld/options.js";
export type {
  MigrateV2ToV3Options,
  MigrationAction,
  MigrationEntry,
  MigrationReport,
} from "./migrate.js";
export { migrateV2ToV3 } from "./migrate.js";
export type { EtcdAuthOptions, EtcdStoreOptions } from "./options.js";
export { DEFAULT_ENDPOINTS, RACE_RETRIES, SUBNET_TTL_SECONDS } from "./options.js";
export type { KeyLayout } from "./prefix.js";
export { DEFAULT_PREFIX, keyLayout } from "./prefix.js";
export type { EtcdTlsOptions, TlsMaterial } from "./tls.js";
export type { EtcdV2ClientOptions, V2Node, V2Response } from "./v2/client.js";
export {
  EtcdV2Client,
  V2_EVENT_INDEX_CLEARED,
  V2_KEY_NOT_FOUND,
  V2_NODE_EXIST,
  V2_NOT_FILE,
  V2_TEST_FAILED,
  v2ErrorCode,
} from "./v2/client.js";
export type { V2WatchStatus } from "./v2/lease-watch.js";
export type { EtcdV2LeaseStoreOptions, EtcdV2WatchLeasesOptions } from "./v2/store.js";
export { EtcdV2LeaseStore } from "./v2/store.js";
export type { EtcdV3ConnectionOptions } from "./v3/connection.js";
export { EtcdV3Connection } from "./v3/connection.js";
export type { EtcdLeaseStoreOptions, EtcdWatchLeasesOptions } from "./v3/store.js";
export { EtcdLeaseStore } from "./v3/store.js";
export type { EtcdV3TransportKind } from "./v3/transport.js";
export type { WatchStatus } from "./v3/watch.js";
export type {
  Bytes,
  DeleteRangeRequestOp,
  KeyValue,
  PutRequestOp,
  RangeRequestOp,
  TxnCompare,
  TxnRequestOp,
  TxnResponseOp,
  TxnResult,
} from "./v3/wire.js";
