// Writers of the convert_model formats that are ZIP archives, each a layout of segments padded with
// valid filler to about `size` bytes:
//   USDZ  ZIP, stored entries, first entry `model.usda` (the default layer), every entry's data
//         64-byte aligned (padding in the local header's extra field, id 0x1986)
//   3MF   ZIP with `[Content_Types].xml`, `_rels/.rels`, `3D/3dmodel.model` (3MF core XML)
//   OBJ   ZIP with `model.obj` (v/vn/f lines, mtllib) and `model.mtl`
//   GLTF  ZIP with `model.gltf` (glTF 2.0 JSON, buffers[0].uri = "model.bin") and `model.bin`
import { utf8 } from "../bytes.ts";
import { TRIANGLE_ACCESSOR } from "../glb.ts";
import { fillCount, type Segment, segsLength, sized } from "./segments.ts";
import { zipSegments } from "./zip_writer.ts";

export function usdzSegments(size: number): Segment[] {
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
export const REL_TYPE_3MF = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel";

export function threeMfSegments(size: number): Segment[] {
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

export function objSegments(size: number): Segment[] {
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
    accessors: [TRIANGLE_ACCESSOR],
    bufferViews: [{
      buffer: 0,
      byteOffset: 0,
      byteLength: TRIANGLE_F32.byteLength,
      target: 34962,
    }],
    buffers: [{ uri: "model.bin", byteLength: binLength }],
  }));
}

export function gltfSegments(size: number): Segment[] {
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
