// Hostile cases: inputs (SSRF: only this project's Storage) and other users' things.
import { stack } from "../../_helpers/stack.ts";
import { type Case, I2I, I2M, own, REF } from "./world.ts";

export const inputCases: Case[] = [
  // --- SSRF: only this project's Storage ----------------------------------------------------
  ...[
    ["another host", "https://evil.example.com/storage/v1/object/public/input-assets/x.png"],
    ["cloud metadata IP", "http://169.254.169.254/latest/meta-data/iam"],
    ["loopback database port", "http://127.0.0.1:5432/storage/v1/object/public/input-assets/x.png"],
    [
      "localhost alias of our host",
      () =>
        `http://localhost:${
          new URL(stack.url).port
        }/storage/v1/object/authenticated/input-assets/x.png`,
    ],
    [
      "IPv6 loopback",
      () =>
        `http://[::1]:${
          new URL(stack.url).port
        }/storage/v1/object/authenticated/input-assets/x.png`,
    ],
    ["file URL", "file:///etc/passwd"],
    ["data URL", "data:image/png;base64,iVBORw0KGgo="],
    [
      "credentials in URL",
      () =>
        stack.url.replace("://", "://user:pw@") +
        "/storage/v1/object/authenticated/input-assets/x.png",
    ],
    [
      "https on our http host",
      () =>
        stack.url.replace("http:", "https:") +
        "/storage/v1/object/authenticated/input-assets/x.png",
    ],
    [
      "dot-dot traversal",
      () => `${stack.url}/storage/v1/object/authenticated/input-assets/%2e%2e/%2e%2e/auth/users`,
    ],
    [
      "encoded slash",
      () => `${stack.url}/storage/v1/object/authenticated/input-assets/a%2F..%2Fb.png`,
    ],
    ["not an object route", () => `${stack.url}/storage/v1/bucket/input-assets`],
    ["the auth API", () => `${stack.url}/auth/v1/admin/users`],
    ["a function URL", () => `${stack.url}/functions/v1/process-jobs`],
    ["not a URL", "input-assets/x.png"],
  ].map(([label, url]): Case => ({
    name: `SSRF: ${label}`,
    fn: I2M,
    body: () => ({
      task_id: "t",
      input_image_asset_urls: [typeof url === "function" ? url() : url],
    }),
    status: 400,
    code: "bad_request",
  })),
  {
    name: "SSRF in image-to-image",
    fn: I2I,
    body: { task_id: "t", prompt: "p", input_image_asset_url: "http://169.254.169.254/" },
    status: 400,
    code: "bad_request",
  },
  {
    name: "SSRF in a later view",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.aImage, "http://10.0.0.1/x.png"] }),
    status: 400,
    code: "bad_request",
  },

  // --- other users' things ------------------------------------------------------------------
  {
    name: "another user's input image",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.bImage] }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "another user's image as a later view",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.aImage, w.bImage] }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "another user's image via a path in my folder name",
    fn: I2I,
    body: (w) => ({ task_id: "t", prompt: "p", input_image_asset_url: own(`${w.b.id}/in.png`) }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "an object that does not exist",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [own(`${w.a.id}/missing.png`)] }),
    status: 403,
    code: "asset_not_readable",
  },
  {
    name: "a text file named .png",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.aText] }),
    status: 415,
    code: "unsupported_asset_type",
  },
  {
    name: "a GLB where an image belongs",
    fn: I2I,
    body: (w) => ({ task_id: "t", prompt: "p", input_image_asset_url: w.aGlb }),
    status: 415,
    code: "unsupported_asset_type",
  },
  {
    name: "an input image over the size limit",
    fn: I2M,
    body: (w) => ({ task_id: "t", input_image_asset_urls: [w.bigImage] }),
    status: 413,
    code: "asset_too_large",
  },
  {
    name: "refine another user's model",
    fn: REF,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.bModelUrl }),
    status: 400,
    code: "bad_request",
  },
  {
    name: "refine with another user's draft id",
    fn: REF,
    body: (w) => ({ task_id: "t", input_model_asset_url: w.aGlb, draft_model_task_id: w.bDraftId }),
    status: 403,
    code: "forbidden",
  },
  { name: "another user's job status", method: "GET", fn: "@bjob", status: 404, code: "not_found" },
  {
    name: "a job that does not exist",
    method: "GET",
    fn: "task-status/3f1d2c4b-5a69-4e7f-8d0c-1b2a3c4d5e6f",
    status: 404,
    code: "not_found",
  },
  {
    name: "task-status with a path trick",
    method: "GET",
    fn: "task-status/..%2F..%2Fetc",
    status: 400,
    code: "bad_request",
  },
  {
    name: "task-status with an unknown service",
    method: "GET",
    fn: "@bjob?service=stability",
    status: 400,
    code: "bad_request",
  },
  {
    name: "cancel another user's job",
    method: "DELETE",
    fn: "@bjob",
    status: 404,
    code: "not_found",
  },
];
