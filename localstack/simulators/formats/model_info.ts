// What an inspector says of a file (ModelInfo), and how the inspectors fail: `fail` throws, and
// `guard` turns that, a read past the end (RangeError) or bad JSON into `ok` false with `error`.
import type { ConvertFormat } from "./layout.ts";

export interface ModelInfo {
  ok: boolean;
  error?: string;
  format: ConvertFormat | "GLB";
  length: number;
  /** Per format: STL {triangles}; FBX {version, nodes}; ZIP formats {entries, …}. */
  details: Record<string, unknown>;
}

export class Bad extends Error {}

export function fail(msg: string): never {
  throw new Bad(msg);
}

export function guard(
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
    // Read once as an Error: Bad, RangeError and SyntaxError have the same shape, so the type
    // checker narrows the branch after `instanceof RangeError` to never.
    const message = (e as Error).message;
    info.error = e instanceof RangeError ? `truncated or malformed (${message})` : message;
  }
  return info;
}
