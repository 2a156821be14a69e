// CRC-32 (ZIP) of a list of segments, with a fast path for long repeated blocks: the per-byte
// register update is affine over GF(2)^32, so a block repeated N times is one affine map raised to
// the N-th power.
import { CRC_TABLE, crcUpdate } from "../bytes.ts";
import type { Segment } from "./segments.ts";

interface Affine {
  m: Uint32Array; // 32 columns: the image of each bit
  v: number;
}

function matApply(m: Uint32Array, x: number): number {
  let r = 0;
  for (let i = 0; x !== 0; i++, x >>>= 1) if (x & 1) r ^= m[i];
  return r >>> 0;
}

/** f ∘ g */
function compose(f: Affine, g: Affine): Affine {
  const m = new Uint32Array(32);
  for (let i = 0; i < 32; i++) m[i] = matApply(f.m, g.m[i]);
  return { m, v: (matApply(f.m, g.v) ^ f.v) >>> 0 };
}

const LINEAR = (() => {
  const m = new Uint32Array(32);
  for (let i = 0; i < 32; i++) {
    const x = (1 << i) >>> 0;
    m[i] = (CRC_TABLE[x & 0xff] ^ (x >>> 8)) >>> 0;
  }
  return m;
})();

function blockMap(block: Uint8Array): Affine {
  let a: Affine = { m: Uint32Array.from({ length: 32 }, (_, i) => (1 << i) >>> 0), v: 0 };
  for (const b of block) a = compose({ m: LINEAR, v: CRC_TABLE[b] }, a);
  return a;
}

function power(a: Affine, n: number): Affine {
  let result: Affine = { m: Uint32Array.from({ length: 32 }, (_, i) => (1 << i) >>> 0), v: 0 };
  let base = a;
  while (n > 0) {
    if (n % 2 === 1) result = compose(base, result);
    n = Math.floor(n / 2);
    if (n > 0) base = compose(base, base);
  }
  return result;
}

/** CRC-32 of the concatenated segments. */
export function crc32Segments(segs: Segment[]): number {
  let c = 0xffffffff;
  for (const s of segs) {
    if (s instanceof Uint8Array) c = crcUpdate(c, s);
    else if (s.count * s.repeat.length <= 4096) {
      for (let i = 0; i < s.count; i++) c = crcUpdate(c, s.repeat);
    } else {
      const a = power(blockMap(s.repeat), s.count);
      c = (matApply(a.m, c) ^ a.v) >>> 0;
    }
  }
  return (c ^ 0xffffffff) >>> 0;
}
