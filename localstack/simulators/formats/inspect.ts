/**
 * The model files Tripo's `convert_model` produces (provider_apis.md §1.4), checked.
 *
 * Inspectors (never throw; `ok` false with `error` when the file is not whole or not that format):
 *   inspectModel(format, bytes)  → Promise<ModelInfo>   (format may also be "GLB")
 *   inspectStl(bytes), inspectFbx(bytes)                 → ModelInfo (sync; ./binary_inspectors.ts)
 *   inspectUsdz(bytes), inspect3mf(bytes), inspectObjZip(bytes), inspectGltfZip(bytes)
 *                                                        → Promise<ModelInfo> (deflated entries
 *                                                          are inflated, so real files work too;
 *                                                          ./zipped_inspectors.ts)
 *   readZip(bytes) → Promise<ZipInfo>: the archive's entries (CRC-checked) with their bytes
 *                                                          (./zip_reader.ts)
 */
import { inspectGlb } from "../glb.ts";
import { inspectFbx, inspectStl } from "./binary_inspectors.ts";
import type { ConvertFormat } from "./layout.ts";
import type { ModelInfo } from "./model_info.ts";
import { inspect3mf, inspectGltfZip, inspectObjZip, inspectUsdz } from "./zipped_inspectors.ts";

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
