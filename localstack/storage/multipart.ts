// Streaming multipart/form-data reader for uploads. storage-js sends the small text fields
// (cacheControl, metadata, contentEncoding) first and the file part last, so the fields are
// buffered (bounded) and the file part is handed out as a stream: a large upload never sits in
// memory.

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_FIELD_BYTES = 1 << 20;

export interface MultipartFile {
  fields: Map<string, string>;
  contentType: string | null;
  stream: ReadableStream<Uint8Array>;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (
    let i = hay.indexOf(first, from);
    i !== -1 && i <= last;
    i = hay.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) {
      if (hay[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

class Buffered {
  buf: Uint8Array = new Uint8Array(0);
  done = false;
  constructor(private reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Reads one more chunk into the buffer; false at end of stream. */
  async more(): Promise<boolean> {
    if (this.done) return false;
    const { value, done } = await this.reader.read();
    if (done) {
      this.done = true;
      return false;
    }
    this.buf = concat(this.buf, value);
    return true;
  }

  /** Bytes up to (excluding) `needle`, consumed along with it; null if the stream ends first. */
  async until(needle: Uint8Array, limit: number): Promise<Uint8Array | null> {
    let from = 0;
    for (;;) {
      const i = indexOf(this.buf, needle, from);
      if (i !== -1) {
        const out = this.buf.slice(0, i);
        this.buf = this.buf.subarray(i + needle.length);
        return out;
      }
      if (this.buf.length > limit) throw new Error("multipart section too large");
      from = Math.max(0, this.buf.length - needle.length + 1);
      if (!(await this.more())) return null;
    }
  }
}

function parseHeaders(raw: string): Map<string, string> {
  const h = new Map<string, string>();
  for (const line of raw.split("\r\n")) {
    const c = line.indexOf(":");
    if (c > 0) h.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  return h;
}

function dispositionParam(disposition: string, key: string): string | null {
  const m = new RegExp(`(?:^|;)\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(disposition) ??
    new RegExp(`(?:^|;)\\s*${key}=([^;]*)`, "i").exec(disposition);
  return m ? m[1].trim() : null;
}

export function boundaryOf(contentType: string): string | null {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]).trim() : null;
}

/**
 * Reads fields up to the first file part and returns them with that part's body as a stream.
 * The stream errors if the body ends before the closing boundary (truncated upload).
 */
export async function readMultipart(
  body: ReadableStream<Uint8Array>,
  boundary: string,
): Promise<MultipartFile> {
  const reader = body.getReader();
  const b = new Buffered(reader);
  const fields = new Map<string, string>();
  const dash = enc.encode(`--${boundary}`);
  const delim = enc.encode(`\r\n--${boundary}`);
  const crlf2 = enc.encode("\r\n\r\n");
  // Preamble, then the first boundary line.
  if ((await b.until(dash, MAX_FIELD_BYTES)) === null) throw new Error("no multipart boundary");
  for (;;) {
    while (b.buf.length < 2 && (await b.more()));
    if (b.buf[0] === 0x2d && b.buf[1] === 0x2d) throw new Error("no file part in multipart body");
    const rawHeaders = await b.until(crlf2, MAX_FIELD_BYTES);
    if (rawHeaders === null) throw new Error("truncated multipart body");
    // rawHeaders begins with the CRLF ending the boundary line.
    const headers = parseHeaders(dec.decode(rawHeaders));
    const disposition = headers.get("content-disposition") ?? "";
    const name = dispositionParam(disposition, "name") ?? "";
    const filename = dispositionParam(disposition, "filename");
    if (filename === null && name !== "") {
      const value = await b.until(delim, MAX_FIELD_BYTES);
      if (value === null) throw new Error("truncated multipart body");
      fields.set(name, dec.decode(value));
      continue;
    }
    return {
      fields,
      contentType: headers.get("content-type") ?? null,
      stream: fileStream(b, delim),
    };
  }
}

function fileStream(b: Buffered, delim: Uint8Array): ReadableStream<Uint8Array> {
  let finished = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (finished) return;
      for (;;) {
        const i = indexOf(b.buf, delim);
        if (i !== -1) {
          if (i > 0) controller.enqueue(b.buf.slice(0, i));
          b.buf = new Uint8Array(0);
          finished = true;
          controller.close();
          return;
        }
        // Keep a tail that might be the start of the delimiter.
        const safe = b.buf.length - (delim.length - 1);
        if (safe > 0) {
          controller.enqueue(b.buf.slice(0, safe));
          b.buf = b.buf.slice(safe);
          return;
        }
        if (!(await b.more())) {
          controller.error(new Error("truncated multipart body"));
          return;
        }
      }
    },
  });
}
