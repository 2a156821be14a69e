// Moving a provider's output file into Storage as a stream: a 200 MB model never needs 200 MB of
// memory (Edge Functions have 256 MB). The bytes are checked on the way (type signature, length,
// cap); a transfer that breaks or stalls is aborted, never left hanging or stored half-written.
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { errorText } from "../log.ts";
import { type ObjectRef, type Storage, StorageError } from "../storage/adapter.ts";
import { AssetError, fetchAsset, type OutputType, verifyingStream } from "./assets.ts";
import type { Failpoint } from "./failpoints.ts";

/** Models larger than this are refused (a provider answering garbage must not fill Storage). */
export const MAX_OUTPUT_BYTES = 512 * 1024 * 1024;
const STREAM_TIMEOUT_MS = 90_000;
/** A transfer that moves no byte for this long is stalled: abort it rather than hang. */
const STALL_TIMEOUT_MS = 15_000;

/**
 * Calls `first` after the first chunk and `half` once half the expected bytes went through;
 * `moved` on every chunk (the stall watchdog).
 */
function progressTap(
  expected: number | null,
  first: () => void,
  half: () => void,
  moved: () => void,
) {
  let seen = 0;
  let firstDone = false;
  let halfDone = false;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      moved();
      seen += chunk.byteLength;
      if (!firstDone) {
        firstDone = true;
        first();
      }
      if (!halfDone && expected && seen >= expected / 2) {
        halfDone = true;
        half();
      }
    },
  });
}

export function createTransfer(deps: {
  config: Config;
  storage: Storage;
  log: Logger;
  failpoint: (name: Failpoint) => void;
}) {
  const { config, storage, log, failpoint } = deps;

  /**
   * Streams the file at `url` (allow-listed hosts only) into `out`. Aborted by `lease` (the job
   * was taken over), the overall cap, or a stall. Failures are AssetErrors: transient ones
   * (a broken or refused transfer) are retried with a fresh URL from the provider.
   */
  return async function streamOutput(
    url: string,
    out: ObjectRef,
    type: OutputType,
    lease: AbortSignal,
  ): Promise<void> {
    const stall = new AbortController();
    let watchdog = setTimeout(() => stall.abort(), STALL_TIMEOUT_MS);
    const moved = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => stall.abort(), STALL_TIMEOUT_MS);
    };
    const signal = AbortSignal.any([lease, stall.signal, AbortSignal.timeout(STREAM_TIMEOUT_MS)]);
    // The check's verdict: the upload fails with a network error of its own when it fires.
    let refused: AssetError | undefined;
    try {
      const res = await fetchAsset(url, config, signal);
      const len = res.headers.get("content-length");
      const expected = len ? Number(len) : null;
      if (!res.body) throw new AssetError("the provider's file host sent no body", true);
      const body = res.body
        .pipeThrough(verifyingStream(type, expected, MAX_OUTPUT_BYTES, (e) => refused = e))
        .pipeThrough(progressTap(
          expected,
          () => failpoint("mid_download"),
          () => failpoint("mid_upload"),
          moved,
        ));
      await storage.upload(out, body, type.contentType, signal);
    } catch (e) {
      if (e instanceof AssetError) throw e;
      if (refused) throw refused;
      // The upload refused or the transfer broke (cut download, stall, reset): the task's
      // output is still at the provider, so the step is retried and fetches a fresh URL.
      log("warn", "output transfer failed", { path: out.path, error: errorText(e) });
      throw new AssetError(
        e instanceof StorageError ? "storage refused the upload" : "the transfer broke off",
        true,
      );
    } finally {
      clearTimeout(watchdog);
    }
  };
}

export type StreamOutput = ReturnType<typeof createTransfer>;
