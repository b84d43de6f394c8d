/** `--etcd URL`: the demo on a real etcd. */
export async function runEtcdDemo(
  _url: string,
  _options: { netns: boolean; seed: number | undefined; out: string | undefined },
): Promise<void> {
  throw new Error("--etcd needs @flannel-sdk/etcd, which has not landed yet");
}
