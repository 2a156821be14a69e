// What the contract test's endpoint tests (tests/contract/endpoints/) share: the generation
// functions by job kind, a valid body for each, and one World made once per run — two users,
// their inputs (a PNG, another user's PNG, a non-image, one over the input limit) and a
// finished model of each.
import assert from "node:assert/strict";
import { makePng, newUser, type TestUser, uploadInput } from "../_helpers/app.ts";
import { stack } from "../_helpers/stack.ts";
import { hit, waitDone } from "./_driver.ts";
export type Body = Record<string, unknown>;
// deno-lint-ignore no-explicit-any
export type Json = any;
export type Kind =
  | "text_to_model"
  | "image_to_model"
  | "sketch_to_model"
  | "refine_model"
  | "convert_model"
  | "image_to_image"
  | "text_to_image";
export const FN: Record<Kind, string> = {
  text_to_model: "generate-text-to-model",
  image_to_model: "generate-image-to-model",
  sketch_to_model: "generate-sketch-to-model",
  refine_model: "generate-refine-model",
  convert_model: "generate-convert-model",
  image_to_image: "generate-image-to-image",
  text_to_image: "generate-text-to-image",
};
export const KINDS = Object.keys(FN) as Kind[];
export const IMAGE_INPUT: Partial<Record<Kind, (url: string) => Body>> = {
  image_to_model: (url) => ({ input_image_asset_urls: [url] }),
  sketch_to_model: (url) => ({ input_sketch_asset_url: url }),
  image_to_image: (url) => ({ prompt: "in brushed steel", input_image_asset_url: url }),
};

export const uid = () => crypto.randomUUID().slice(0, 8);
const outputUrl = (o: { bucket: string; path: string }) =>
  `${stack.url}/storage/v1/object/authenticated/${o.bucket}/${o.path}`;

/** A finished text-to-model of the user's (its job id and GLB URL). */
export async function finishedModel(user: TestUser) {
  const a = await hit(FN.text_to_model, 202, {
    token: user.token,
    body: { task_id: `src-${uid()}`, prompt: "a small wooden robot" },
  });
  const s = await waitDone(user.token, a.body.job_id);
  assert.equal(s.status, "complete", JSON.stringify(s));
  return { job: a.body.job_id as string, url: outputUrl(s.outputs[0]) };
}

export interface World {
  owner: TestUser;
  other: TestUser;
  png: string;
  othersPng: string;
  notImage: string;
  huge: string;
  model: { job: string; url: string };
  othersModel: { job: string; url: string };
}
let world: World | undefined;
export async function setup(): Promise<World> {
  if (world) return world;
  const [owner, other] = [await newUser("oa-owner"), await newUser("oa-other")];
  // 21 MB that sniff as PNG: over the 20 MB input limit.
  const huge = new Uint8Array(21 * 1024 * 1024);
  huge.set(makePng().subarray(0, 8));
  world = {
    owner,
    other,
    png: await uploadInput(owner, "front.png", makePng()),
    othersPng: await uploadInput(other, "theirs.png", makePng(64, 64, 1)),
    notImage: await uploadInput(owner, "notes.png", new TextEncoder().encode("just text")),
    huge: await uploadInput(owner, "huge.png", huge),
    model: await finishedModel(owner),
    othersModel: await finishedModel(other),
  };
  return world;
}

export function bodyOf(kind: Kind, w: World, png: string, taskId = `t-${uid()}`): Body {
  switch (kind) {
    case "text_to_model":
      return { task_id: taskId, prompt: "a ceramic teapot" };
    case "text_to_image":
      return { task_id: taskId, prompt: "a mushroom lamp", quality: "low" };
    case "refine_model":
      return { task_id: taskId, input_model_asset_url: w.model.url };
    case "convert_model":
      return { task_id: taskId, input_model_asset_url: w.model.url, format: "STL" };
    default:
      return { task_id: taskId, ...IMAGE_INPUT[kind]!(png) };
  }
}
