/**
 * The model files Tripo's `convert_model` produces (provider_apis.md §1.4), generated and checked.
 *
 * Generators (deterministic, no compressor needed): every format is described as a layout, a list
 * of byte segments and "repeat this block N times" segments, so a file of any size up to hundreds
 * of MB can be streamed without being held in memory, with a Content-Length known up front.
 *   modelLayout(format, size?)            → {format, total, segments, contentType, extension}
 *   makeModel(format, size?)              → the whole file (Uint8Array)
 *   modelStream(format, size, {truncateAt}) → {stream, length}; `truncateAt` fails the stream
 *                                           part-way (a download cut off mid-body)
 * `size` is a target in bytes (default DEFAULT_MODEL_SIZE, a few KB): the file is padded with
 * valid filler (extra vertices / zero triangles / zero buffer bytes) to about that size, never
 * less than the format's minimum (~0.5–2 KB).
 *   USDZ  ZIP, stored entries, first entry `model.usda` (the default layer), every entry's data
 *         64-byte aligned (padding in the local header's extra field, id 0x1986)
 *   3MF   ZIP with `[Content_Types].xml`, `_rels/.rels`, `3D/3dmodel.model` (3MF core XML)
 *   FBX   binary FBX 7400: 23-byte magic, uint32 version, node records (FBXHeaderExtension,
 *         GlobalSettings, Objects{Geometry,Model}, Connections), null record, standard footer
 *   STL   binary STL: 80-byte header (not starting with "solid"), uint32 n, n × 50-byte triangles
 *   OBJ   ZIP with `model.obj` (v/vn/f lines, mtllib) and `model.mtl`
 *   GLTF  ZIP with `model.gltf` (glTF 2.0 JSON, buffers[0].uri = "model.bin") and `model.bin`
 *
 * Inspectors (never throw; `ok` false with `error` when the file is not whole or not that format):
 *   inspectModel(format, bytes)  → Promise<ModelInfo>   (format may also be "GLB")
 *   inspectStl(bytes), inspectFbx(bytes)                 → ModelInfo (sync)
 *   inspectUsdz(bytes), inspect3mf(bytes), inspectObjZip(bytes), inspectGltfZip(bytes)
 *                                                        → Promise<ModelInfo> (deflated entries
 *                                                          are inflated, so real files work too)
 *   readZip(bytes) → Promise<ZipInfo>: the archive's entries (CRC-checked) with their bytes
 */
import { inspectGlb } from "./assets.ts";

export type ConvertFormat = "GLTF" | "USDZ" | "FBX" | "OBJ" | "STL" | "3MF";
export const CONVERT_FORMATS: readonly ConvertFormat[] = [
  "GLTF",
  "USDZ",
  "FBX",
  "OBJ",
  "STL",
  "3MF",
];
export const DEFAULT_MODEL_SIZE = 4096;

/** Bytes, or a block repeated `count` times. */
export type Segment = Uint8Array | { repeat: Uint8Array; count: number };

export interface ModelLayout {
  format: ConvertFormat;
  total: number;
  segments: Segment[];
  contentType: string;
  extension: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const utf8 = (s: string) => enc.encode(s);

function segLength(s: Segment): number {
  return s instanceof Uint8Array ? s.length : s.repeat.length * s.count;
}

function segsLength(segs: Segment[]): number {
  return segs.reduce((n, s) => n + segLength(s), 0);
}

// ---------------------------------------------------------------------------------------------
// CRC-32 (ZIP), with a fast path for long repeated blocks: the per-byte register update is
// affine over GF(2)^32, so a block repeated N times is one affine map raised to the N-th power.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

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

function crcUpdate(c: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
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

export function crc32(bytes: Uint8Array): number {
  return (crcUpdate(0xffffffff, bytes) ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Little-endian writers

function le(size: 1 | 2 | 4 | 8, n: number | bigint): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  if (size === 1) dv.setUint8(0, Number(n));
  else if (size === 2) dv.setUint16(0, Number(n), true);
  else if (size === 4) dv.setUint32(0, Number(n) >>> 0, true);
  else dv.setBigInt64(0, BigInt(n), true);
  return b;
}

function cat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ZIP (stored entries)

interface ZipEntryIn {
  name: string;
  segments: Segment[];
}

const DOS_TIME = 0; // 00:00:00
const DOS_DATE = ((2026 - 1980) << 9) | (1 << 5) | 1; // 2026-01-01

/** A ZIP of stored entries; `align` pads each entry's data offset (USDZ needs 64). */
function zipSegments(entries: ZipEntryIn[], align = 0): Segment[] {
  const out: Segment[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = utf8(e.name);
    const size = segsLength(e.segments);
    const crc = crc32Segments(e.segments);
    let extra = new Uint8Array(0);
    if (align > 0) {
      let pad = (align - ((offset + 30 + name.length) % align)) % align;
      if (pad > 0 && pad < 4) pad += align;
      if (pad > 0) extra = cat([le(2, 0x1986), le(2, pad - 4), new Uint8Array(pad - 4)]);
    }
    const local = cat([
      le(4, 0x04034b50),
      le(2, 10), // version needed: 1.0 (stored)
      le(2, 0), // flags
      le(2, 0), // method: stored
      le(2, DOS_TIME),
      le(2, DOS_DATE),
      le(4, crc),
      le(4, size),
      le(4, size),
      le(2, name.length),
      le(2, extra.length),
      name,
      extra,
    ]);
    central.push(cat([
      le(4, 0x02014b50),
      le(2, 20), // made by: 2.0 (MS-DOS attributes)
      le(2, 10),
      le(2, 0),
      le(2, 0),
      le(2, DOS_TIME),
      le(2, DOS_DATE),
      le(4, crc),
      le(4, size),
      le(4, size),
      le(2, name.length),
      le(2, 0), // extra
      le(2, 0), // comment
      le(2, 0), // disk
      le(2, 0), // internal attributes
      le(4, 0), // external attributes
      le(4, offset),
      name,
    ]));
    out.push(local, ...e.segments);
    offset += local.length + size;
  }
  const cd = cat(central);
  const eocd = cat([
    le(4, 0x06054b50),
    le(2, 0),
    le(2, 0),
    le(2, entries.length),
    le(2, entries.length),
    le(4, cd.length),
    le(4, offset),
    le(2, 0),
  ]);
  out.push(cd, eocd);
  return out;
}

/** How many filler blocks make `fixed + count × block` reach `size`. */
function fillCount(size: number, fixed: number, block: number): number {
  return Math.max(0, Math.floor((size - fixed) / block));
}

/** Builds once with no filler to learn the fixed size, then with the filler count. */
function sized(size: number, block: number, build: (count: number) => Segment[]): Segment[] {
  const fixed = segsLength(build(0));
  return build(fillCount(size, fixed, block));
}

// ---------------------------------------------------------------------------------------------
// Formats

function usdzSegments(size: number): Segment[] {
  const block = utf8(", (0, 0, 0)");
  return sized(size, block.length, (count) => {
    const head = utf8(
      [
        "#usda 1.0",
        "(",
        '    defaultPrim = "Root"',
        "    metersPerUnit = 1",
        '    upAxis = "Y"',
        '    doc = "makeit3d-simulator"',
        ")",
        "",
        'def Xform "Root"',
        "{",
        '    def Mesh "Mesh"',
        "    {",
        "        int[] faceVertexCounts = [3]",
        "        int[] faceVertexIndices = [0, 1, 2]",
        "        point3f[] points = [(0, 0, 0), (1, 0, 0), (0, 1, 0)",
      ].join("\n"),
    );
    const tail = utf8("]\n    }\n}\n");
    return zipSegments(
      [{ name: "model.usda", segments: [head, { repeat: block, count }, tail] }],
      64,
    );
  });
}

const CONTENT_TYPES_3MF = '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
  '<Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>' +
  "</Types>\n";
const RELS_3MF = '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
  '<Relationship Target="/3D/3dmodel.model" Id="rel0" ' +
  'Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/>' +
  "</Relationships>\n";
const REL_TYPE_3MF = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel";

function threeMfSegments(size: number): Segment[] {
  const block = utf8('<vertex x="0" y="0" z="0"/>');
  return sized(size, block.length, (count) => {
    const head = utf8(
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
        '<model unit="millimeter" xml:lang="en-US" ' +
        'xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">' +
        '<metadata name="Application">makeit3d-simulator</metadata>' +
        '<resources><object id="1" type="model"><mesh><vertices>' +
        '<vertex x="0" y="0" z="0"/><vertex x="10" y="0" z="0"/>' +
        '<vertex x="0" y="10" z="0"/><vertex x="0" y="0" z="10"/>',
    );
    const tail = utf8(
      "</vertices><triangles>" +
        '<triangle v1="0" v2="2" v3="1"/><triangle v1="0" v2="1" v3="3"/>' +
        '<triangle v1="0" v2="3" v3="2"/><triangle v1="1" v2="2" v3="3"/>' +
        '</triangles></mesh></object></resources><build><item objectid="1"/></build></model>\n',
    );
    return zipSegments([
      { name: "[Content_Types].xml", segments: [utf8(CONTENT_TYPES_3MF)] },
      { name: "_rels/.rels", segments: [utf8(RELS_3MF)] },
      { name: "3D/3dmodel.model", segments: [head, { repeat: block, count }, tail] },
    ]);
  });
}

function objSegments(size: number): Segment[] {
  const block = utf8("v 0 0 0\n");
  const mtl = utf8(
    "# makeit3d-simulator\nnewmtl material_0\nKa 0 0 0\nKd 0.8 0.8 0.8\nKs 0 0 0\nd 1\nillum 1\n",
  );
  return sized(size, block.length, (count) => {
    const head = utf8(
      "# makeit3d-simulator\nmtllib model.mtl\no Mesh\n" +
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nvn 0 0 1\nusemtl material_0\n" +
        "f 1//1 3//1 2//1\nf 1//1 2//1 4//1\nf 1//1 4//1 3//1\nf 2//1 3//1 4//1\n",
    );
    return zipSegments([
      { name: "model.obj", segments: [head, { repeat: block, count }] },
      { name: "model.mtl", segments: [mtl] },
    ]);
  });
}

const TRIANGLE_F32 = new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]);

function gltfText(binLength: number): Uint8Array {
  return utf8(JSON.stringify({
    asset: { version: "2.0", generator: "makeit3d-simulator" },
    scene: 0,
    scenes: [{ nodes: [0] }],
    nodes: [{ mesh: 0, name: "Mesh" }],
    meshes: [{ primitives: [{ attributes: { POSITION: 0 } }] }],
    accessors: [{
      bufferView: 0,
      componentType: 5126,
      count: 3,
      type: "VEC3",
      min: [0, 0, 0],
      max: [1, 1, 0],
    }],
    bufferViews: [{
      buffer: 0,
      byteOffset: 0,
      byteLength: TRIANGLE_F32.byteLength,
      target: 34962,
    }],
    buffers: [{ uri: "model.bin", byteLength: binLength }],
  }));
}

function gltfSegments(size: number): Segment[] {
  const tri = new Uint8Array(TRIANGLE_F32.buffer.slice(0));
  const build = (count: number) => {
    const binLength = tri.length + count * 4;
    return zipSegments([
      { name: "model.gltf", segments: [gltfText(binLength)] },
      { name: "model.bin", segments: [tri, { repeat: new Uint8Array(4), count }] },
    ]);
  };
  const fixed = segsLength(build(0));
  // The JSON embeds the buffer length, whose digits grow with it: aim a little low.
  return build(fillCount(size - 12, fixed, 4));
}

function stlSegments(size: number): Segment[] {
  const header = new Uint8Array(80).fill(0x20);
  header.set(utf8("binary STL makeit3d-simulator"));
  const v = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const faces = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]];
  const real = faces.map(([a, b, c]) => {
    const rec = new Uint8Array(50);
    const dv = new DataView(rec.buffer);
    [v[a], v[b], v[c]].forEach((p, i) =>
      p.forEach((x, j) => dv.setFloat32(12 + i * 12 + j * 4, x, true))
    );
    return rec; // normal left 0: readers recompute it
  });
  const filler = fillCount(size, 84 + 50 * real.length, 50);
  return [
    header,
    le(4, real.length + filler),
    ...real,
    { repeat: new Uint8Array(50), count: filler },
  ];
}

// FBX binary (version 7400: 32-bit offsets, 13-byte null records).

type FbxProp =
  | { t: "I"; v: number }
  | { t: "L"; v: bigint }
  | { t: "S"; v: string }
  | { t: "i"; v: number[] }
  | { t: "d"; v: number[]; zeros?: number };

interface FbxNode {
  name: string;
  props: FbxProp[];
  children: FbxNode[];
}

const FBX_MAGIC = utf8("Kaydara FBX Binary  \x00\x1a\x00");
const FBX_VERSION = 7400;
const FBX_FOOTER_ID = new Uint8Array([
  0xfa,
  0xbc,
  0xab,
  0x09,
  0xd0,
  0xc8,
  0xd4,
  0x66,
  0xb1,
  0x76,
  0xfb,
  0x83,
  0x1c,
  0xf7,
  0x26,
  0x7e,
]);
const FBX_FOOTER_MAGIC = new Uint8Array([
  0xf8,
  0x5a,
  0x8c,
  0x6a,
  0xde,
  0xf5,
  0xd9,
  0x7e,
  0xec,
  0xe9,
  0x0c,
  0xe3,
  0x75,
  0x8f,
  0x29,
  0x0b,
]);

function fbxPropSegments(p: FbxProp): Segment[] {
  const code = utf8(p.t);
  switch (p.t) {
    case "I":
      return [cat([code, le(4, p.v)])];
    case "L":
      return [cat([code, le(8, p.v)])];
    case "S": {
      const s = utf8(p.v);
      return [cat([code, le(4, s.length), s])];
    }
    case "i": {
      const data = new Uint8Array(p.v.length * 4);
      const dv = new DataView(data.buffer);
      p.v.forEach((x, i) => dv.setInt32(i * 4, x, true));
      return [cat([code, le(4, p.v.length), le(4, 0), le(4, data.length), data])];
    }
    case "d": {
      const zeros = p.zeros ?? 0;
      const data = new Uint8Array(p.v.length * 8);
      const dv = new DataView(data.buffer);
      p.v.forEach((x, i) => dv.setFloat64(i * 8, x, true));
      const n = p.v.length + zeros;
      return [cat([code, le(4, n), le(4, 0), le(4, n * 8), data]), {
        repeat: new Uint8Array(8),
        count: zeros,
      }];
    }
  }
}

function fbxNodeSegments(node: FbxNode, offset: number): Segment[] {
  const name = utf8(node.name);
  const props = node.props.flatMap(fbxPropSegments);
  const propLen = segsLength(props);
  const headerLen = 13 + name.length;
  const out: Segment[] = [];
  let pos = offset + headerLen + propLen;
  const kids: Segment[] = [];
  for (const c of node.children) {
    const segs = fbxNodeSegments(c, pos);
    pos += segsLength(segs);
    kids.push(...segs);
  }
  const sentinel = node.children.length > 0 || node.props.length === 0;
  if (sentinel) pos += 13;
  out.push(
    cat([le(4, pos), le(4, node.props.length), le(4, propLen), le(1, name.length), name]),
    ...props,
    ...kids,
  );
  if (sentinel) out.push(new Uint8Array(13));
  return out;
}

const n = (name: string, props: FbxProp[] = [], children: FbxNode[] = []): FbxNode => ({
  name,
  props,
  children,
});

function fbxSegments(size: number): Segment[] {
  return sized(size, 24, (count) => {
    const tree: FbxNode[] = [
      n("FBXHeaderExtension", [], [
        n("FBXHeaderVersion", [{ t: "I", v: 1003 }]),
        n("FBXVersion", [{ t: "I", v: FBX_VERSION }]),
        n("Creator", [{ t: "S", v: "makeit3d-simulator" }]),
      ]),
      n("GlobalSettings", [], [n("Version", [{ t: "I", v: 1000 }])]),
      n("Objects", [], [
        n("Geometry", [
          { t: "L", v: 1000n },
          { t: "S", v: "Mesh\x00\x01Geometry" },
          { t: "S", v: "Mesh" },
        ], [
          n("Vertices", [{
            t: "d",
            v: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1],
            zeros: count * 3,
          }]),
          n("PolygonVertexIndex", [{ t: "i", v: [0, 2, -2, 0, 1, -4, 0, 3, -3, 1, 2, -4] }]),
          n("GeometryVersion", [{ t: "I", v: 124 }]),
        ]),
        n("Model", [
          { t: "L", v: 2000n },
          { t: "S", v: "Mesh\x00\x01Model" },
          { t: "S", v: "Mesh" },
        ], [n("Version", [{ t: "I", v: 232 }])]),
      ]),
      n("Connections", [], [
        n("C", [{ t: "S", v: "OO" }, { t: "L", v: 1000n }, { t: "L", v: 2000n }]),
        n("C", [{ t: "S", v: "OO" }, { t: "L", v: 2000n }, { t: "L", v: 0n }]),
      ]),
    ];
    const out: Segment[] = [FBX_MAGIC, le(4, FBX_VERSION)];
    let pos = 27;
    for (const node of tree) {
      const segs = fbxNodeSegments(node, pos);
      pos += segsLength(segs);
      out.push(...segs);
    }
    out.push(new Uint8Array(13), FBX_FOOTER_ID, new Uint8Array(4));
    pos += 13 + 16 + 4;
    let pad = ((pos + 15) & ~15) - pos;
    if (pad === 0) pad = 16;
    out.push(new Uint8Array(pad), le(4, FBX_VERSION), new Uint8Array(120), FBX_FOOTER_MAGIC);
    return out;
  });
}

const META: Record<ConvertFormat, { contentType: string; extension: string }> = {
  USDZ: { contentType: "model/vnd.usdz+zip", extension: "usdz" },
  "3MF": { contentType: "model/3mf", extension: "3mf" },
  FBX: { contentType: "application/octet-stream", extension: "fbx" },
  STL: { contentType: "model/stl", extension: "stl" },
  OBJ: { contentType: "application/zip", extension: "zip" },
  GLTF: { contentType: "application/zip", extension: "zip" },
};

export function modelLayout(format: ConvertFormat, size = DEFAULT_MODEL_SIZE): ModelLayout {
  const build = {
    USDZ: usdzSegments,
    "3MF": threeMfSegments,
    FBX: fbxSegments,
    STL: stlSegments,
    OBJ: objSegments,
    GLTF: gltfSegments,
  }[format];
  if (!build) throw new Error(`unknown model format ${format}`);
  const segments = build(size);
  return { format, total: segsLength(segments), segments, ...META[format] };
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

export function makeModel(
  format: ConvertFormat,
  size = DEFAULT_MODEL_SIZE,
): Uint8Array<ArrayBuffer> {
  return segmentsToBytes(modelLayout(format, size).segments);
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

export function modelStream(
  format: ConvertFormat,
  size = DEFAULT_MODEL_SIZE,
  opts: { truncateAt?: number } = {},
): { stream: ReadableStream<Uint8Array>; length: number; contentType: string } {
  const l = modelLayout(format, size);
  return { stream: segmentStream(l.segments, opts), length: l.total, contentType: l.contentType };
}

// ---------------------------------------------------------------------------------------------
// Inspectors

export interface ModelInfo {
  ok: boolean;
  error?: string;
  format: ConvertFormat | "GLB";
  length: number;
  /** Per format: STL {triangles}; FBX {version, nodes}; ZIP formats {entries, …}. */
  details: Record<string, unknown>;
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  localOffset: number;
  dataOffset: number;
  data: Uint8Array;
}

export interface ZipInfo {
  ok: boolean;
  error?: string;
  entries: ZipEntry[];
}

class Bad extends Error {}

function fail(msg: string): never {
  throw new Bad(msg);
}

async function inflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/**
 * Reads a whole ZIP: end record, central directory, each local header, each entry's data
 * (stored or deflated) with its size and CRC-32 checked. Never throws.
 */
export async function readZip(bytes: Uint8Array): Promise<ZipInfo> {
  const info: ZipInfo = { ok: false, entries: [] };
  try {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 22) fail("too short for a ZIP");
    if (dv.getUint32(0, true) !== 0x04034b50) fail("no ZIP local header at offset 0 (PK\\3\\4)");
    let eocd = -1;
    for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
      if (
        dv.getUint32(i, true) === 0x06054b50 && i + 22 + dv.getUint16(i + 20, true) === bytes.length
      ) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) fail("no ZIP end-of-central-directory record (truncated?)");
    const count = dv.getUint16(eocd + 10, true);
    const cdSize = dv.getUint32(eocd + 12, true);
    const cdOffset = dv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdOffset === 0xffffffff) fail("ZIP64 archives are not supported");
    if (cdOffset + cdSize !== eocd) fail("central directory does not end at the end record");
    let p = cdOffset;
    for (let k = 0; k < count; k++) {
      if (p + 46 > eocd || dv.getUint32(p, true) !== 0x02014b50) fail(`central entry ${k} is bad`);
      const flags = dv.getUint16(p + 8, true);
      const method = dv.getUint16(p + 10, true);
      const crc = dv.getUint32(p + 16, true);
      const compressedSize = dv.getUint32(p + 20, true);
      const size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      const localOffset = dv.getUint32(p + 42, true);
      const name = dec.decode(bytes.subarray(p + 46, p + 46 + nameLen));
      p += 46 + nameLen + extraLen + commentLen;
      if (flags & 1) fail(`${name}: encrypted`);
      if (localOffset + 30 > cdOffset || dv.getUint32(localOffset, true) !== 0x04034b50) {
        fail(`${name}: no local header at ${localOffset}`);
      }
      const lNameLen = dv.getUint16(localOffset + 26, true);
      const lExtraLen = dv.getUint16(localOffset + 28, true);
      const lName = dec.decode(bytes.subarray(localOffset + 30, localOffset + 30 + lNameLen));
      if (lName !== name) fail(`${name}: local header names ${lName}`);
      const dataOffset = localOffset + 30 + lNameLen + lExtraLen;
      if (dataOffset + compressedSize > cdOffset) fail(`${name}: data runs past the directory`);
      const raw = bytes.subarray(dataOffset, dataOffset + compressedSize);
      let data: Uint8Array;
      if (method === 0) data = raw;
      else if (method === 8) {
        try {
          data = await inflateRaw(raw);
        } catch (e) {
          fail(`${name}: deflate data is corrupt (${(e as Error).message})`);
        }
      } else fail(`${name}: unsupported compression method ${method}`);
      if (data.length !== size) fail(`${name}: ${data.length} bytes, directory says ${size}`);
      if (crc32(data) !== crc) fail(`${name}: CRC-32 mismatch`);
      info.entries.push({ name, method, compressedSize, size, crc, localOffset, dataOffset, data });
    }
    if (p !== eocd) fail("central directory size does not match its entries");
    info.ok = true;
  } catch (e) {
    if (!(e instanceof Bad) && !(e instanceof RangeError)) throw e;
    info.error = e instanceof RangeError ? `truncated or malformed (${e.message})` : e.message;
  }
  return info;
}

function guard(
  format: ModelInfo["format"],
  bytes: Uint8Array,
  fn: (info: ModelInfo) => void,
): ModelInfo {
  const info: ModelInfo = { ok: false, format, length: bytes.length, details: {} };
  try {
    fn(info);
    info.ok = true;
  } catch (e) {
    if (!(e instanceof Bad) && !(e instanceof RangeError) && !(e instanceof SyntaxError)) throw e;
    info.error = e instanceof RangeError ? `truncated or malformed (${e.message})` : e.message;
  }
  return info;
}

async function guardZip(
  format: ModelInfo["format"],
  bytes: Uint8Array,
  fn: (info: ModelInfo, zip: ZipInfo) => void,
): Promise<ModelInfo> {
  const zip = await readZip(bytes);
  return guard(format, bytes, (info) => {
    info.details.entries = zip.entries.map((e) => ({
      name: e.name,
      method: e.method,
      size: e.size,
      dataOffset: e.dataOffset,
    }));
    if (!zip.ok) fail(zip.error ?? "bad ZIP");
    fn(info, zip);
  });
}

/** Binary STL: 80-byte header not starting with "solid", uint32 n, exactly 84 + 50n bytes. */
export function inspectStl(bytes: Uint8Array): ModelInfo {
  return guard("STL", bytes, (info) => {
    if (bytes.length < 84) fail(`STL too short (${bytes.length} bytes)`);
    const header = dec.decode(bytes.subarray(0, 80));
    if (/^solid/i.test(header)) {
      fail('header starts with "solid" (ASCII STL, or a misleading header)');
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tris = dv.getUint32(80, true);
    info.details.triangles = tris;
    if (bytes.length !== 84 + 50 * tris) {
      fail(`STL length ${bytes.length} != 84 + 50 × ${tris} (${84 + 50 * tris})`);
    }
    if (tris === 0) fail("STL has no triangles");
    for (let i = 0; i < tris; i++) {
      for (let j = 0; j < 12; j++) {
        if (!Number.isFinite(dv.getFloat32(84 + i * 50 + j * 4, true))) {
          fail(`triangle ${i} has a non-finite coordinate`);
        }
      }
    }
  });
}

/**
 * Binary FBX: magic, version, a node tree whose records' end offsets nest exactly (32-bit
 * offsets before 7500, 64-bit from 7500), the top-level null record, and the standard footer
 * (footer version = header version, final 16-byte magic).
 */
export function inspectFbx(bytes: Uint8Array): ModelInfo {
  return guard("FBX", bytes, (info) => {
    if (bytes.length < 27 || !FBX_MAGIC.every((b, i) => bytes[i] === b)) {
      fail("not a binary FBX (magic)");
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = dv.getUint32(23, true);
    info.details.version = version;
    const wide = version >= 7500;
    const nullLen = wide ? 25 : 13;
    const u = (o: number) => wide ? Number(dv.getBigUint64(o, true)) : dv.getUint32(o, true);
    const w = wide ? 8 : 4;
    const names: string[] = [];
    const footerMin = 16 + 4 + 1 + 4 + 120 + 16;
    const limit = bytes.length - footerMin;
    const isNull = (o: number) => bytes.subarray(o, o + nullLen).every((b) => b === 0);

    const readProps = (o: number, count: number, end: number): number => {
      for (let k = 0; k < count; k++) {
        if (o >= end) fail("property list overruns its length");
        const t = String.fromCharCode(bytes[o++]);
        const fixed: Record<string, number> = { Y: 2, C: 1, I: 4, F: 4, D: 8, L: 8 };
        if (t in fixed) o += fixed[t];
        else if ("fdlibc".includes(t)) {
          const encoding = dv.getUint32(o + 4, true);
          const clen = dv.getUint32(o + 8, true);
          if (encoding !== 0 && encoding !== 1) fail(`array property encoding ${encoding}`);
          if (encoding === 0) {
            const size = { f: 4, d: 8, l: 8, i: 4, b: 1, c: 1 }[t]!;
            if (clen !== dv.getUint32(o, true) * size) fail("array property length mismatch");
          }
          o += 12 + clen;
        } else if (t === "S" || t === "R") o += 4 + dv.getUint32(o, true);
        else fail(`unknown property type 0x${t.charCodeAt(0).toString(16)}`);
      }
      return o;
    };

    const readNode = (o: number, parentEnd: number, depth: number): number => {
      if (depth > 64) fail("node tree too deep");
      const end = u(o);
      const nProps = u(o + w);
      const propLen = u(o + 2 * w);
      const nameLen = bytes[o + 3 * w];
      const name = dec.decode(bytes.subarray(o + 3 * w + 1, o + 3 * w + 1 + nameLen));
      if (depth === 0) names.push(name);
      if (end <= o || end > parentEnd) fail(`node ${name} at ${o}: end offset ${end} out of range`);
      const propStart = o + 3 * w + 1 + nameLen;
      const afterProps = readProps(propStart, nProps, propStart + propLen);
      if (afterProps !== propStart + propLen) fail(`node ${name}: property list length mismatch`);
      let p = afterProps;
      if (p < end) {
        while (p < end - nullLen) p = readNode(p, end - nullLen, depth + 1);
        if (p !== end - nullLen || !isNull(p)) {
          fail(`node ${name}: children do not end with a null record`);
        }
        p = end;
      }
      if (p !== end) fail(`node ${name}: content does not end at its end offset`);
      return end;
    };

    let p = 27;
    for (;;) {
      if (p + nullLen > limit) fail("node list runs into the footer (truncated?)");
      if (isNull(p)) break;
      p = readNode(p, limit, 0);
    }
    p += nullLen;
    info.details.nodes = names;
    if (!names.includes("Objects")) fail("no Objects node");
    if (!FBX_FOOTER_MAGIC.every((b, i) => bytes[bytes.length - 16 + i] === b)) {
      fail("footer magic missing (truncated?)");
    }
    if (dv.getUint32(bytes.length - 16 - 120 - 4, true) !== version) {
      fail("footer version does not match the header");
    }
    if (p > bytes.length - 16 - 120 - 4) fail("footer overlaps the node list");
  });
}

function findEntry(zip: ZipInfo, name: string): ZipEntry | undefined {
  return zip.entries.find((e) => e.name === name);
}

/**
 * A minimal XML check: one root element, balanced tags, only the declaration/comments outside.
 * Returns the root element's name.
 */
export function checkXml(text: string): string {
  const stack: string[] = [];
  let root = "";
  let rootsClosed = 0;
  const re =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>|<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|</g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    const between = text.slice(last, m.index);
    if (stack.length === 0 && between.trim()) fail("text outside the root element");
    if (between.includes("<")) fail(`malformed markup near offset ${last}`);
    last = m.index! + m[0].length;
    if (m[0] === "<") fail(`malformed tag at offset ${m.index}`);
    if (!m[2]) continue; // comment, declaration, CDATA
    if (m[1]) {
      if (stack.pop() !== m[2]) fail(`</${m[2]}> does not close the open element`);
      if (stack.length === 0) rootsClosed++;
    } else {
      if (stack.length === 0) {
        if (root) fail("more than one root element");
        root = m[2];
      }
      if (m[4]) {
        if (stack.length === 0) rootsClosed++;
      } else stack.push(m[2]);
    }
  }
  if (text.slice(last).trim()) fail("text after the root element");
  if (stack.length) fail(`unclosed <${stack.at(-1)}> (truncated?)`);
  if (!root || rootsClosed !== 1) fail("no root element");
  return root;
}

/** USDZ: stored (uncompressed) ZIP, first entry a .usda/.usdc/.usd layer, all data 64-aligned. */
export function inspectUsdz(bytes: Uint8Array): Promise<ModelInfo> {
  return guardZip("USDZ", bytes, (info, zip) => {
    if (zip.entries.length === 0) fail("empty archive");
    for (const e of zip.entries) {
      if (e.method !== 0) fail(`${e.name}: USDZ entries must be stored, not compressed`);
      if (e.dataOffset % 64 !== 0) {
        fail(`${e.name}: data at ${e.dataOffset} is not 64-byte aligned`);
      }
    }
    const first = zip.entries[0];
    const ext = first.name.split(".").pop()?.toLowerCase();
    if (!["usda", "usdc", "usd"].includes(ext ?? "")) {
      fail(`first entry ${first.name} is not a USD layer`);
    }
    const head = dec.decode(first.data.subarray(0, 16));
    const kind = head.startsWith("#usda ") ? "usda" : head.startsWith("PXR-USDC") ? "usdc" : null;
    if (!kind) fail(`${first.name} is neither usda text nor a usdc crate`);
    if (ext !== "usd" && ext !== kind) fail(`${first.name} holds ${kind} data`);
    info.details.layer = first.name;
    info.details.layerKind = kind;
    if (kind === "usda") {
      const text = dec.decode(first.data);
      let depth = 0;
      for (const ch of text) {
        if (ch === "{" || ch === "(" || ch === "[") depth++;
        else if (ch === "}" || ch === ")" || ch === "]") depth--;
        if (depth < 0) fail("unbalanced brackets in the usda layer");
      }
      if (depth !== 0) fail("unbalanced brackets in the usda layer (truncated?)");
      if (!/\bdef\s+\w+\s+"/.test(text)) fail("the usda layer defines no prim");
    }
  });
}

/** 3MF: content types, the package relationship to the 3D model part, and a mesh whose
 * triangles index existing vertices. */
export function inspect3mf(bytes: Uint8Array): Promise<ModelInfo> {
  return guardZip("3MF", bytes, (info, zip) => {
    const ct = findEntry(zip, "[Content_Types].xml");
    if (!ct) fail("no [Content_Types].xml");
    if (checkXml(dec.decode(ct.data)) !== "Types") fail("[Content_Types].xml root is not Types");
    const rels = findEntry(zip, "_rels/.rels");
    if (!rels) fail("no _rels/.rels");
    const relsText = dec.decode(rels.data);
    if (checkXml(relsText) !== "Relationships") fail("_rels/.rels root is not Relationships");
    let target: string | undefined;
    for (const m of relsText.matchAll(/<Relationship\b[^>]*>/g)) {
      const type = m[0].match(/\bType="([^"]*)"/)?.[1];
      if (type === REL_TYPE_3MF) target = m[0].match(/\bTarget="([^"]*)"/)?.[1];
    }
    if (!target) fail("no 3D model relationship in _rels/.rels");
    const part = findEntry(zip, target.replace(/^\//, ""));
    if (!part) fail(`the model part ${target} is missing`);
    const text = dec.decode(part.data);
    if (checkXml(text) !== "model") fail(`${part.name} root is not model`);
    const vertices = [...text.matchAll(/<vertex\b/g)].length;
    const tris = [...text.matchAll(/<triangle\b([^>]*)>/g)];
    for (const t of tris) {
      for (const k of ["v1", "v2", "v3"]) {
        const v = Number(t[1].match(new RegExp(`\\b${k}="(\\d+)"`))?.[1] ?? NaN);
        if (!(v >= 0 && v < vertices)) fail(`a triangle's ${k} does not index a vertex`);
      }
    }
    if (tris.length === 0) fail("the model has no triangles");
    if (!/<build\b[\s\S]*<item\b/.test(text)) fail("the model has no build item");
    Object.assign(info.details, { part: part.name, vertices, triangles: tris.length });
  });
}

/** OBJ archive: a .obj whose faces index its vertices, and the .mtl files it names. */
export function inspectObjZip(bytes: Uint8Array): Promise<ModelInfo> {
  return guardZip("OBJ", bytes, (info, zip) => {
    const obj = zip.entries.find((e) => e.name.toLowerCase().endsWith(".obj"));
    if (!obj) fail("no .obj in the archive");
    if (!zip.entries.some((e) => e.name.toLowerCase().endsWith(".mtl"))) {
      fail("no .mtl in the archive");
    }
    const dir = obj.name.includes("/") ? obj.name.slice(0, obj.name.lastIndexOf("/") + 1) : "";
    let vertices = 0;
    let faces = 0;
    const libs: string[] = [];
    const lines = dec.decode(obj.data).split(/\r?\n/);
    for (const [i, line] of lines.entries()) {
      const t = line.trim().split(/\s+/);
      if (t[0] === "v") {
        if (t.length < 4 || t.slice(1, 4).some((x) => !Number.isFinite(Number(x)))) {
          fail(`line ${i + 1}: bad vertex`);
        }
        vertices++;
      } else if (t[0] === "f") {
        if (t.length < 4) fail(`line ${i + 1}: a face needs 3 vertices`);
        for (const ref of t.slice(1)) {
          const v = Number(ref.split("/")[0]);
          const idx = v < 0 ? vertices + v + 1 : v;
          if (!Number.isInteger(v) || v === 0 || idx < 1 || idx > vertices) {
            fail(`line ${i + 1}: face index ${ref} does not name a vertex`);
          }
        }
        faces++;
      } else if (t[0] === "mtllib") libs.push(...t.slice(1));
    }
    if (faces === 0) fail("the .obj has no faces");
    for (const lib of libs) {
      if (!findEntry(zip, dir + lib)) fail(`mtllib ${lib} is not in the archive`);
    }
    Object.assign(info.details, { obj: obj.name, vertices, faces, mtllib: libs });
  });
}

/** glTF archive: a .gltf (asset.version 2.0) whose buffers exist in the archive and hold its
 * buffer views. */
export function inspectGltfZip(bytes: Uint8Array): Promise<ModelInfo> {
  return guardZip("GLTF", bytes, (info, zip) => {
    const g = zip.entries.find((e) => e.name.toLowerCase().endsWith(".gltf"));
    if (!g) fail("no .gltf in the archive");
    const dir = g.name.includes("/") ? g.name.slice(0, g.name.lastIndexOf("/") + 1) : "";
    const json = JSON.parse(dec.decode(g.data)) as {
      asset?: { version?: string };
      buffers?: { uri?: string; byteLength?: number }[];
      bufferViews?: { buffer: number; byteOffset?: number; byteLength: number }[];
    };
    if (json.asset?.version !== "2.0") fail(`asset.version is ${json.asset?.version}`);
    const lengths: number[] = [];
    for (const [i, b] of (json.buffers ?? []).entries()) {
      if (typeof b.byteLength !== "number") fail(`buffers[${i}] has no byteLength`);
      let have: number;
      if (!b.uri) fail(`buffers[${i}] has no uri (GLB-only buffers do not belong in .gltf)`);
      else if (b.uri.startsWith("data:")) have = b.byteLength;
      else {
        const e = findEntry(zip, dir + decodeURIComponent(b.uri));
        if (!e) fail(`buffer ${b.uri} is not in the archive`);
        have = e.size;
      }
      if (have < b.byteLength) fail(`buffer ${b.uri} is shorter than byteLength`);
      lengths.push(b.byteLength);
    }
    for (const [i, v] of (json.bufferViews ?? []).entries()) {
      if ((v.byteOffset ?? 0) + v.byteLength > (lengths[v.buffer] ?? -1)) {
        fail(`bufferViews[${i}] does not fit its buffer`);
      }
    }
    if (!json.buffers?.length) fail("no buffers");
    Object.assign(info.details, { gltf: g.name, asset: json.asset, buffers: lengths });
  });
}

/** Checks that `bytes` is a whole file of `format` (the convert formats, or "GLB"). */
export function inspectModel(
  format: ConvertFormat | "GLB",
  bytes: Uint8Array,
): Promise<ModelInfo> {
  switch (format) {
    case "STL":
      return Promise.resolve(inspectStl(bytes));
    case "FBX":
      return Promise.resolve(inspectFbx(bytes));
    case "USDZ":
      return inspectUsdz(bytes);
    case "3MF":
      return inspect3mf(bytes);
    case "OBJ":
      return inspectObjZip(bytes);
    case "GLTF":
      return inspectGltfZip(bytes);
    case "GLB": {
      const g = inspectGlb(bytes, bytes.length);
      return Promise.resolve({
        ok: g.ok,
        error: g.error,
        format: "GLB",
        length: bytes.length,
        details: { version: g.version, binLength: g.binLength },
      });
    }
    default:
      return Promise.resolve({
        ok: false,
        error: `unknown format ${format}`,
        format,
        length: bytes.length,
        details: {},
      });
  }
}
