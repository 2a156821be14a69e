// Writers of the binary convert_model formats, each a layout of segments padded with valid filler
// (zero triangles / extra vertices) to about `size` bytes:
//   STL   binary STL: 80-byte header (not starting with "solid"), uint32 n, n × 50-byte triangles
//   FBX   binary FBX 7400: 23-byte magic, uint32 version, node records (FBXHeaderExtension,
//         GlobalSettings, Objects{Geometry,Model}, Connections), null record, standard footer
import { concat, le, utf8 } from "../bytes.ts";
import { fillCount, type Segment, segsLength, sized } from "./segments.ts";

export function stlSegments(size: number): Segment[] {
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

export const FBX_MAGIC = utf8("Kaydara FBX Binary  \x00\x1a\x00");
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
export const FBX_FOOTER_MAGIC = new Uint8Array([
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
      return [concat([code, le(4, p.v)])];
    case "L":
      return [concat([code, le(8, p.v)])];
    case "S": {
      const s = utf8(p.v);
      return [concat([code, le(4, s.length), s])];
    }
    case "i": {
      const data = new Uint8Array(p.v.length * 4);
      const dv = new DataView(data.buffer);
      p.v.forEach((x, i) => dv.setInt32(i * 4, x, true));
      return [concat([code, le(4, p.v.length), le(4, 0), le(4, data.length), data])];
    }
    case "d": {
      const zeros = p.zeros ?? 0;
      const data = new Uint8Array(p.v.length * 8);
      const dv = new DataView(data.buffer);
      p.v.forEach((x, i) => dv.setFloat64(i * 8, x, true));
      const n = p.v.length + zeros;
      return [concat([code, le(4, n), le(4, 0), le(4, n * 8), data]), {
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
    concat([le(4, pos), le(4, node.props.length), le(4, propLen), le(1, name.length), name]),
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

export function fbxSegments(size: number): Segment[] {
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
