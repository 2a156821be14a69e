// Inspectors of the binary convert_model formats, STL and FBX: whole and well-formed, or `ok` false
// with `error` (never a throw).
import { FBX_FOOTER_MAGIC, FBX_MAGIC } from "./binary_writers.ts";
import { fail, guard, type ModelInfo } from "./model_info.ts";

const dec = new TextDecoder();

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
