// Object bytes on disk. Every upload writes a new file named by a fresh version id; the
// storage.objects row points at its version, so a reader always opens a complete file and an
// overwrite never disturbs a download already in progress (the old file is unlinked only after
// the new row is committed, and an open descriptor keeps reading it).
import { createHash } from "node:crypto";
import { Errors, StorageError } from "./errors.ts";

export interface Written {
  tmpPath: string;
  size: number;
  md5: string;
}

export class BlobStore {
  constructor(private dataDir: string) {}

  async init(): Promise<void> {
    await Deno.mkdir(`${this.dataDir}/objects`, { recursive: true });
    await Deno.mkdir(`${this.dataDir}/tmp`, { recursive: true });
  }

  pathOf(version: string): string {
    if (!/^[0-9a-f-]{36}$/.test(version)) throw Errors.noSuchKey();
    return `${this.dataDir}/objects/${version}`;
  }

  /**
   * Streams `body` into a temp file, hashing as it goes; throws EntityTooLarge as soon as
   * `limit` is passed. The temp file is removed on any failure.
   */
  async writeTemp(body: ReadableStream<Uint8Array>, limit: number): Promise<Written> {
    const tmpPath = `${this.dataDir}/tmp/${crypto.randomUUID()}`;
    const file = await Deno.open(tmpPath, { write: true, createNew: true });
    const hash = createHash("md5");
    let size = 0;
    const reader = body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > limit) throw Errors.entityTooLarge();
        hash.update(value);
        // Synchronous on purpose: Deno's async file write keeps each chunk alive until a
        // later GC, which made memory grow with the upload size; writeSync does not.
        let off = 0;
        while (off < value.byteLength) off += file.writeSync(value.subarray(off));
      }
      file.close();
      return { tmpPath, size, md5: hash.digest("hex") };
    } catch (err) {
      try {
        file.close();
      } catch { /* already closed */ }
      await reader.cancel().catch(() => {});
      await this.remove(tmpPath);
      if (err instanceof StorageError) throw err;
      // The body broke off (client aborted, truncated multipart): nothing was stored.
      throw Errors.invalidRequest(`Upload aborted: ${(err as Error)?.message ?? err}`);
    }
  }

  async remove(path: string): Promise<void> {
    await Deno.remove(path).catch(() => {});
  }

  /** Opens a version for reading; null if the file is gone (e.g. replaced meanwhile). */
  async open(version: string): Promise<Deno.FsFile | null> {
    try {
      return await Deno.open(this.pathOf(version), { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  }

  async copy(fromVersion: string, toVersion: string): Promise<void> {
    await Deno.copyFile(this.pathOf(fromVersion), this.pathOf(toVersion));
  }
}

/** A stream of `length` bytes from `file` starting at `start`; closes the file when done. */
export function rangeStream(
  file: Deno.FsFile,
  start: number,
  length: number,
): ReadableStream<Uint8Array> {
  let left = length;
  let positioned = false;
  const close = () => {
    try {
      file.close();
    } catch { /* already closed */ }
  };
  return new ReadableStream<Uint8Array>({
    type: "bytes",
    async pull(controller) {
      if (!positioned) {
        await file.seek(start, Deno.SeekMode.Start);
        positioned = true;
      }
      if (left <= 0) {
        close();
        controller.close();
        return;
      }
      const buf = new Uint8Array(Math.min(left, 256 * 1024));
      const n = await file.read(buf);
      if (n === null || n === 0) {
        close();
        controller.error(new Error("object file shorter than recorded size"));
        return;
      }
      left -= n;
      controller.enqueue(buf.subarray(0, n));
    },
    cancel() {
      close();
    },
  });
}
