/**
 * glTF-binary (GLB) models for the provider simulators, generated and checked.
 *
 * - `glbLayout(size)` / `makeGlb(size)` / `glbStream(size, opts)` — a valid GLB 2.0 (12-byte
 *   header, JSON chunk describing one triangle, BIN chunk). The BIN chunk is padded with zeros so
 *   the file is exactly the requested size (rounded down to a multiple of 4, minimum ~430 B).
 *   `glbStream` produces the bytes lazily in 256 KiB chunks, so a 200 MB model never sits in
 *   memory; `truncateAt` makes the stream fail part-way (a download cut off mid-body).
 * - `inspectGlb(head, totalLength)` — checks a GLB's header and chunk table.
 * The convert_model formats (USDZ, 3MF, FBX, STL, OBJ/glTF archives) are in ./formats/.
 */

const GLB_MAGIC = 0x46546c67; // "glTF"
const CHUNK_JSON = 0x4e4f534a;
const CHUNK_BIN = 0x004e4942;
const TRIANGLE = new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]);
/** The triangle's position accessor, the same in the glTF archive (./formats/zipped_writers.ts). */
export const TRIANGLE_ACCESSOR = {
  bufferView: 0,
  componentType: 5126,
  count: 3,
  type: "VEC3",
  min: [0, 0, 0],
  max: [1, 1, 0],
};

export interface GlbLayout {
  total: number;
  json: Uint8Array; // padded with spaces to a multiple of 4
  binLength: number;
  /** Header + JSON chunk + BIN chunk header + triangle data. */
  prefix: Uint8Array;
}

function gltfJson(binLength: number): string {
  return JSON.stringify({
    asset: { version: "2.0", generator: "makeit3d-simulator" },
    scene: 0,
    scenes: [{ nodes: [0] }],
    nodes: [{ mesh: 0 }],
    meshes: [{ primitives: [{ attributes: { POSITION: 0 } }] }],
    accessors: [TRIANGLE_ACCESSOR],
    bufferViews: [{ buffer: 0, byteOffset: 0, byteLength: TRIANGLE.byteLength }],
    buffers: [{ byteLength: binLength }],
  });
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export function glbLayout(size: number): GlbLayout {
  let binLength = TRIANGLE.byteLength;
  let jsonText = gltfJson(binLength);
  // The JSON embeds the BIN length, whose digit count can change the JSON length: settle it.
  for (let i = 0; i < 5; i++) {
    const jsonLen = pad4(new TextEncoder().encode(jsonText).length);
    const want = Math.floor((size - 12 - 8 - jsonLen - 8) / 4) * 4;
    const next = Math.max(TRIANGLE.byteLength, want);
    jsonText = gltfJson(next);
    if (next === binLength && pad4(new TextEncoder().encode(jsonText).length) === jsonLen) break;
    binLength = next;
  }
  const raw = new TextEncoder().encode(jsonText);
  const json = new Uint8Array(pad4(raw.length)).fill(0x20);
  json.set(raw);
  const total = 12 + 8 + json.length + 8 + binLength;
  const prefix = new Uint8Array(12 + 8 + json.length + 8 + TRIANGLE.byteLength);
  const dv = new DataView(prefix.buffer);
  dv.setUint32(0, GLB_MAGIC, true);
  dv.setUint32(4, 2, true);
  dv.setUint32(8, total, true);
  dv.setUint32(12, json.length, true);
  dv.setUint32(16, CHUNK_JSON, true);
  prefix.set(json, 20);
  const b = 20 + json.length;
  dv.setUint32(b, binLength, true);
  dv.setUint32(b + 4, CHUNK_BIN, true);
  prefix.set(new Uint8Array(TRIANGLE.buffer), b + 8);
  return { total, json, binLength, prefix };
}

export function makeGlb(size = 4096): Uint8Array<ArrayBuffer> {
  const l = glbLayout(size);
  const out = new Uint8Array(l.total);
  out.set(l.prefix);
  return out;
}

const STREAM_CHUNK = 256 * 1024;

/** GLB bytes produced on demand; never holds more than one chunk. */
export function glbStream(
  size: number,
  opts: { truncateAt?: number } = {},
): { stream: ReadableStream<Uint8Array>; length: number } {
  const l = glbLayout(size);
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (opts.truncateAt !== undefined && sent >= opts.truncateAt) {
        controller.error(new Error("simulated truncated download"));
        return;
      }
      if (sent >= l.total) {
        controller.close();
        return;
      }
      let chunk: Uint8Array;
      if (sent === 0) {
        chunk = l.prefix;
      } else {
        chunk = new Uint8Array(Math.min(STREAM_CHUNK, l.total - sent));
      }
      if (opts.truncateAt !== undefined && sent + chunk.length > opts.truncateAt) {
        chunk = chunk.subarray(0, Math.max(0, opts.truncateAt - sent));
      }
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  return { stream, length: l.total };
}

export interface GlbInfo {
  ok: boolean;
  error?: string;
  version: number;
  length: number;
  json: Record<string, unknown>;
  binLength: number;
}

/**
 * Checks a GLB's header and chunk table (`head` may be just the first chunk of a stream when
 * `totalLength` is given). Never throws: `ok` is false with `error` when malformed.
 */
export function inspectGlb(head: Uint8Array, totalLength: number = head.length): GlbInfo {
  const info: GlbInfo = { ok: false, version: 0, length: 0, json: {}, binLength: 0 };
  try {
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (dv.getUint32(0, true) !== GLB_MAGIC) throw new Error("not a GLB (magic)");
    info.version = dv.getUint32(4, true);
    if (info.version !== 2) throw new Error(`GLB version ${info.version}`);
    info.length = dv.getUint32(8, true);
    if (info.length !== totalLength) throw new Error(`GLB length ${info.length} != ${totalLength}`);
    const jsonLen = dv.getUint32(12, true);
    if (jsonLen % 4 !== 0) throw new Error("JSON chunk not 4-byte aligned");
    if (dv.getUint32(16, true) !== CHUNK_JSON) throw new Error("first chunk is not JSON");
    info.json = JSON.parse(new TextDecoder().decode(head.subarray(20, 20 + jsonLen)));
    const b = 20 + jsonLen;
    info.binLength = dv.getUint32(b, true);
    if (dv.getUint32(b + 4, true) !== CHUNK_BIN) throw new Error("second chunk is not BIN");
    if (b + 8 + info.binLength !== info.length) throw new Error("chunk lengths do not add up");
    const buffers = info.json.buffers as { byteLength?: number }[] | undefined;
    if (!buffers?.[0] || buffers[0].byteLength! > info.binLength) {
      throw new Error("buffers[0].byteLength does not fit the BIN chunk");
    }
    info.ok = true;
  } catch (e) {
    info.error = (e as Error).message;
  }
  return info;
}
