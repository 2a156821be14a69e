// ZIP reader for the inspectors: readZip(bytes) → Promise<ZipInfo>, the archive's entries
// (CRC-checked) with their bytes; deflated entries are inflated, so real files work too.
import { crc32 } from "../bytes.ts";
import { Bad, fail } from "./model_info.ts";

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

const dec = new TextDecoder();

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
    // Read once as an Error: Bad, RangeError and SyntaxError have the same shape, so the type
    // checker narrows the branch after `instanceof RangeError` to never.
    const message = (e as Error).message;
    info.error = e instanceof RangeError ? `truncated or malformed (${message})` : message;
  }
  return info;
}
