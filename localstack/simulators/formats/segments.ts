// A model file as a list of segments: bytes, and "repeat this block N times" runs of filler, so
// a file of any size up to hundreds of MB has a length known up front and can be streamed without
// being held in memory.

/** Bytes, or a block repeated `count` times. */
export type Segment = Uint8Array | { repeat: Uint8Array; count: number };

export function segLength(s: Segment): number {
  return s instanceof Uint8Array ? s.length : s.repeat.length * s.count;
}

export function segsLength(segs: Segment[]): number {
  return segs.reduce((n, s) => n + segLength(s), 0);
}

/** How many filler blocks make `fixed + count × block` reach `size`. */
export function fillCount(size: number, fixed: number, block: number): number {
  return Math.max(0, Math.floor((size - fixed) / block));
}

/** Builds once with no filler to learn the fixed size, then with the filler count. */
export function sized(
  size: number,
  block: number,
  build: (count: number) => Segment[],
): Segment[] {
  const fixed = segsLength(build(0));
  return build(fillCount(size, fixed, block));
}

export function segmentsToBytes(segs: Segment[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(segsLength(segs));
  let o = 0;
  for (const s of segs) {
    if (s instanceof Uint8Array) {
      out.set(s, o);
      o += s.length;
    } else {
      for (let i = 0; i < s.count; i++, o += s.repeat.length) out.set(s.repeat, o);
    }
  }
  return out;
}

const STREAM_CHUNK = 256 * 1024;

/** The segments as a lazy stream; never holds more than one chunk of filler. */
export function segmentStream(
  segs: Segment[],
  opts: { truncateAt?: number } = {},
): ReadableStream<Uint8Array> {
  let si = 0;
  let within = 0; // bytes of segs[si] already sent
  let sent = 0;
  let tile: { block: Uint8Array; chunk: Uint8Array } | undefined;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (opts.truncateAt !== undefined && sent >= opts.truncateAt) {
        controller.error(new Error("simulated truncated download"));
        return;
      }
      while (si < segs.length && within >= segLength(segs[si])) {
        si++;
        within = 0;
      }
      if (si >= segs.length) {
        controller.close();
        return;
      }
      const s = segs[si];
      let chunk: Uint8Array;
      if (s instanceof Uint8Array) {
        chunk = s.subarray(within, within + STREAM_CHUNK);
      } else {
        if (tile?.block !== s.repeat) {
          const reps = Math.max(1, Math.floor(STREAM_CHUNK / s.repeat.length));
          const c = new Uint8Array(reps * s.repeat.length);
          for (let i = 0; i < reps; i++) c.set(s.repeat, i * s.repeat.length);
          tile = { block: s.repeat, chunk: c };
        }
        // `within` is always a multiple of the block length here.
        chunk = tile.chunk.subarray(0, Math.min(tile.chunk.length, segLength(s) - within));
      }
      if (opts.truncateAt !== undefined && sent + chunk.length > opts.truncateAt) {
        chunk = chunk.subarray(0, Math.max(0, opts.truncateAt - sent));
      }
      within += chunk.length;
      sent += chunk.length;
      controller.enqueue(chunk.slice());
    },
  }, { highWaterMark: 0 });
}
