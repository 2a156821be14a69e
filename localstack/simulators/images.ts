/**
 * Image generators for the provider simulators: valid PNG, JPEG and WebP images.
 *
 * - `makePng(width, height, seed)` — a real, decodable RGBA PNG (zlib "stored" blocks, so no
 *   compressor is needed and the output is deterministic).
 * - `makeJpegStub()` — JPEG-looking bytes, enough for magic-byte checks.
 * - `sniffImage(bytes)` — png | jpeg | webp by magic bytes, else null.
 * - `makePngCompressed(w, h, seed)` (async) — a real RGBA PNG of any size, deflated, a few KB even
 *   at 1536×1024; `makeJpeg(w, h, seed)` — a real baseline greyscale JPEG (DC-only blocks);
 *   `makeWebp(w, h, seed)` — a real lossless (VP8L) WebP of one colour. All three were checked
 *   against pngcheck, djpeg and dwebp; the OpenAI generations route serves them.
 * The GLB models are in ./glb.ts; the convert_model formats in ./formats/.
 */
import { concat, crc32 } from "./bytes.ts";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function adler32(data: Uint8Array): number {
  let a = 1, b = 0;
  for (let i = 0; i < data.length; i++) {
    a = (a + data[i]) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function u32be(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const t = new TextEncoder().encode(type);
  return concat([u32be(data.length), t, data, u32be(crc32(t, data))]);
}

/** zlib stream made of uncompressed deflate blocks. */
function zlibStored(raw: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [new Uint8Array([0x78, 0x01])];
  const MAX = 65535;
  for (let off = 0; off < raw.length || off === 0; off += MAX) {
    const len = Math.min(MAX, raw.length - off);
    const last = off + len >= raw.length ? 1 : 0;
    parts.push(new Uint8Array([last, len & 0xff, len >> 8, ~len & 0xff, (~len >> 8) & 0xff]));
    parts.push(raw.subarray(off, off + len));
    if (raw.length === 0) break;
  }
  parts.push(u32be(adler32(raw)));
  return concat(parts);
}

/** A valid RGBA PNG; `seed` varies the colours so several images differ. */
export function makePng(width = 64, height = 64, seed = 0): Uint8Array<ArrayBuffer> {
  const row = 1 + width * 4;
  const raw = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) {
    raw[y * row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const o = y * row + 1 + x * 4;
      raw[o] = (x * 4 + seed * 53) & 0xff;
      raw[o + 1] = (y * 4 + seed * 97) & 0xff;
      raw[o + 2] = (seed * 31 + 128) & 0xff;
      raw[o + 3] = 0xff;
    }
  }
  const ihdr = concat([u32be(width), u32be(height), new Uint8Array([8, 6, 0, 0, 0])]);
  return concat([
    new Uint8Array(PNG_SIGNATURE),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", zlibStored(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** Minimal JPEG-looking bytes (SOI + APP0 JFIF + EOI); enough for magic-byte checks. */
export function makeJpegStub(): Uint8Array<ArrayBuffer> {
  return new Uint8Array([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0x00,
    0x10,
    0x4a,
    0x46,
    0x49,
    0x46,
    0x00,
    0x01,
    0x01,
    0x00,
    0x00,
    0x01,
    0x00,
    0x01,
    0x00,
    0x00,
    0xff,
    0xd9,
  ]);
}

export type ImageKind = "png" | "jpeg" | "webp";

export function sniffImage(b: Uint8Array): ImageKind | null {
  if (b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v)) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (
    b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 &&
    b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50
  ) return "webp";
  return null;
}

/**
 * A real RGBA PNG of any size, deflate-compressed (CompressionStream), so a 1536×1024 image is a
 * few KB; rows use the Sub filter over a gradient, which compresses to almost nothing.
 */
export async function makePngCompressed(
  width: number,
  height: number,
  seed = 0,
): Promise<Uint8Array<ArrayBuffer>> {
  const row = 1 + width * 4;
  const raw = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) {
    const o = y * row;
    raw[o] = 1; // filter: Sub (each byte minus the one 4 to the left)
    raw[o + 1] = (seed * 53) & 0xff;
    raw[o + 2] = (y + seed * 97) & 0xff;
    raw[o + 3] = (seed * 31 + 128) & 0xff;
    raw[o + 4] = 0xff;
    for (let x = 1; x < width; x++) raw[o + 1 + x * 4] = 1; // R rises by 1 per pixel
  }
  const z = new Uint8Array(
    await new Response(
      new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")),
    ).arrayBuffer(),
  );
  const ihdr = concat([u32be(width), u32be(height), new Uint8Array([8, 6, 0, 0, 0])]);
  return concat([
    new Uint8Array(PNG_SIGNATURE),
    pngChunk("IHDR", ihdr),
    pngChunk("IDAT", z),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

/** LSB-first (WebP) or MSB-first (JPEG) bit writer. */
class Bits {
  private out: number[] = [];
  private acc = 0;
  private n = 0;
  constructor(private readonly msbFirst: boolean, private readonly stuffFF = false) {}
  put(value: number, count: number) {
    for (let i = 0; i < count; i++) {
      const bit = this.msbFirst ? (value >>> (count - 1 - i)) & 1 : (value >>> i) & 1;
      if (this.msbFirst) this.acc = (this.acc << 1) | bit;
      else this.acc |= bit << this.n;
      if (++this.n === 8) this.flushByte();
    }
  }
  private flushByte() {
    this.out.push(this.acc & 0xff);
    if (this.stuffFF && (this.acc & 0xff) === 0xff) this.out.push(0);
    this.acc = 0;
    this.n = 0;
  }
  /** Pads the last byte (with 1s for JPEG, 0s for WebP). */
  bytes(): Uint8Array {
    if (this.n > 0) {
      if (this.msbFirst) this.put(0xff, 8 - this.n);
      else this.flushByte();
    }
    return new Uint8Array(this.out);
  }
}

const JPEG_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];

/**
 * A real baseline JPEG (greyscale, one DC level per 8×8 block, no AC terms), decodable by any
 * JPEG reader; a 1024×1024 image is ~10 KB.
 */
export function makeJpeg(width: number, height: number, seed = 0): Uint8Array<ArrayBuffer> {
  // Canonical codes for the standard luminance DC table (categories 0–11).
  const codes: { code: number; len: number }[] = [];
  let code = 0;
  for (let len = 1; len <= 16; len++) {
    for (let i = 0; i < JPEG_DC_BITS[len - 1]; i++) codes.push({ code: code++, len });
    code <<= 1;
  }
  const bw = Math.ceil(width / 8);
  const bh = Math.ceil(height / 8);
  const bits = new Bits(true, true);
  let prev = 0;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      const level = (bx * 2 + by * 3 + seed * 40) & 0xff;
      const dc = 8 * (level - 128);
      const diff = dc - prev;
      prev = dc;
      const mag = Math.abs(diff);
      const cat = mag === 0 ? 0 : Math.floor(Math.log2(mag)) + 1;
      bits.put(codes[cat].code, codes[cat].len);
      if (cat > 0) bits.put(diff > 0 ? diff : diff + (1 << cat) - 1, cat);
      bits.put(0, 1); // EOB (the AC table's only code)
    }
  }
  const seg = (marker: number, body: number[] | Uint8Array) =>
    new Uint8Array([0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 0xff, ...body]);
  return concat([
    new Uint8Array([0xff, 0xd8]),
    seg(0xe0, [0x4a, 0x46, 0x49, 0x46, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]),
    seg(0xdb, [0, ...new Array(64).fill(1)]),
    seg(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]),
    seg(0xc4, [0x00, ...JPEG_DC_BITS, ...Array.from({ length: 12 }, (_, i) => i)]),
    seg(0xc4, [0x10, 1, ...new Array(15).fill(0), 0x00]),
    seg(0xda, [1, 1, 0x00, 0, 63, 0]),
    bits.bytes(),
    new Uint8Array([0xff, 0xd9]),
  ]);
}

/** A real lossless WebP (VP8L) of one colour: every prefix code has a single symbol. */
export function makeWebp(width: number, height: number, seed = 0): Uint8Array<ArrayBuffer> {
  const b = new Bits(false);
  b.put(0x2f, 8);
  b.put(width - 1, 14);
  b.put(height - 1, 14);
  b.put(0, 1); // alpha not used
  b.put(0, 3); // version
  b.put(0, 1); // no transform
  b.put(0, 1); // no colour cache
  b.put(0, 1); // no meta prefix codes
  const argb = [(seed * 97) & 0xff, (seed * 53 + 64) & 0xff, (seed * 31 + 128) & 0xff, 0xff];
  for (const v of argb) { // green, red, blue, alpha: simple code, 1 symbol, 8-bit symbol
    b.put(1, 1);
    b.put(0, 1);
    b.put(1, 1);
    b.put(v, 8);
  }
  b.put(1, 1); // distance: simple code, 1 symbol, 1-bit symbol 0
  b.put(0, 1);
  b.put(0, 1);
  b.put(0, 1);
  const data = b.bytes();
  const chunk = concat([
    new TextEncoder().encode("VP8L"),
    u32le(data.length),
    data,
    new Uint8Array(data.length % 2),
  ]);
  return concat([
    new TextEncoder().encode("RIFF"),
    u32le(4 + chunk.length),
    new TextEncoder().encode("WEBP"),
    chunk,
  ]);
}

function u32le(n: number): Uint8Array {
  return new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
}
