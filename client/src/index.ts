// @makeit3d/client: the typed client of the MakeIt3D BFF (see ../README.md).
export { MakeIt3D } from "./client.ts";
export type {
  CallOptions,
  InputKind,
  MakeIt3DOptions,
  UploadOptions,
  WaitOptions,
} from "./client.ts";
export { ApiError } from "./errors.ts";
export type { ApiErrorInit } from "./errors.ts";
export { newIdempotencyKey } from "./ids.ts";
export { jobsTopic } from "./hub.ts";
export { isTerminal } from "./watch.ts";
export type { JobUpdate, WatchOptions } from "./watch.ts";
export type * from "./types.ts";
