// ZIP writer: an archive of stored entries, laid out as segments (the model archives, and USDZ).
import { concat, le, utf8 } from "../bytes.ts";
import { crc32Segments } from "./crc32.ts";
import { type Segment, segsLength } from "./segments.ts";

interface ZipEntryIn {
  name: string;
  segments: Segment[];
}

const DOS_TIME = 0; // 00:00:00
const DOS_DATE = ((2026 - 1980) << 9) | (1 << 5) | 1; // 2026-01-01

/** A ZIP of stored entries; `align` pads each entry's data offset (USDZ needs 64). */
export function zipSegments(entries: ZipEntryIn[], align = 0): Segment[] {
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
      if (pad > 0) extra = concat([le(2, 0x1986), le(2, pad - 4), new Uint8Array(pad - 4)]);
    }
    const local = concat([
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
    central.push(concat([
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
  const cd = concat(central);
  const eocd = concat([
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
