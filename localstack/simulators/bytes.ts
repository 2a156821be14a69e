// Byte helpers shared by the image writers (./images.ts), the model file writers and readers
// (./formats/) and the OpenAI simulator (./openai/): the CRC-32 of PNG chunks and ZIP entries,
// concatenation, little-endian integers, base64.

export const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Runs the CRC-32 register `c` over `bytes` (no inversion before or after). */
export function crcUpdate(c: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** CRC-32 of the concatenated parts. */
export function crc32(...parts: Uint8Array[]): number {
  let c = 0xffffffff;
  for (const p of parts) c = crcUpdate(c, p);
  return (c ^ 0xffffffff) >>> 0;
}

export function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Little-endian unsigned integer of `size` bytes (8: a signed 64-bit). */
export function le(size: 1 | 2 | 4 | 8, n: number | bigint): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  if (size === 1) dv.setUint8(0, Number(n));
  else if (size === 2) dv.setUint16(0, Number(n), true);
  else if (size === 4) dv.setUint32(0, Number(n) >>> 0, true);
  else dv.setBigInt64(0, BigInt(n), true);
  return b;
}

const enc = new TextEncoder();
export const utf8 = (s: string) => enc.encode(s);

/** Base64 of the bytes, in slices (String.fromCharCode takes only so many arguments). */
export function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}
