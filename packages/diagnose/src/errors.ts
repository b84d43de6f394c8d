/** Codes thrown by `@flannel-sdk/diagnose` (besides core's `ABORTED`). */
export type DiagnoseErrorCode = "IPTABLES_FAILED";
