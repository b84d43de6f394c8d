export type { BackoffOptions, Clock, TimerHandle } from "./clock.js";
export { Backoff, sleep, systemClock } from "./clock.js";
export type { EtcdErrorCode } from "./errors.js";
export { toEtcdError } from "./errors.js";
export { expandExecStart, parseEnvironmentFile } from "./flanneld/env-file.js";
export type { FlanneldFlagValues, ParsedFlanneldFlags } from "./flanneld/flags.js";
export { parseFlanneldFlags } from "./flanneld/flags.js";
export type { FlanneldEtcdOptions, FlanneldOptionsInput } from "./flanneld/options.js";
export {
  etcdOptionsFromFlanneld,
  GUIDE_EXEC_START,
  GUIDE_SYSCONFIG_PATH,
} from "./flanneld/options.js";
export type { EtcdAuthOptions, EtcdStoreOptions } from "./options.js";
export { DEFAULT_ENDPOINTS, RACE_RETRIES, SUBNET_TTL_SECONDS } from "./options.js";
export type { KeyLayout } from "./prefix.js";
export { DEFAULT_PREFIX, keyLayout } from "./prefix.js";
export type { EtcdTlsOptions, TlsMaterial } from "./tls.js";
export { loadTlsMaterial } from "./tls.js";
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
