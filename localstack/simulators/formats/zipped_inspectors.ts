// Inspectors of the convert_model formats that are ZIP archives (USDZ, 3MF, OBJ, GLTF): the archive
// read whole (./zip_reader.ts), then what the format needs inside it; `ok` false with `error` when
// it is not so (never a throw).
import { fail, guard, type ModelInfo } from "./model_info.ts";
import { readZip, type ZipEntry, type ZipInfo } from "./zip_reader.ts";
import { REL_TYPE_3MF } from "./zipped_writers.ts";

const dec = new TextDecoder();

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
