// image-to-image end to end through the OpenAI simulator: every one of the n concepts stored
// and listed, rows per concept, the multipart sent with an explicit image content type.
import assert from "node:assert/strict";
import {
  db,
  it,
  makePng,
  newUser,
  simMark,
  simRequests,
  uploadInput,
  waitForJob,
} from "../_helpers/app.ts";
import { sniffImage } from "../../localstack/simulators/images.ts";

it("image-to-image n=3: all concepts stored, listed and signed", async () => {
  const user = await newUser("i2i");
  const input = await uploadInput(user, "photo.png", makePng(64, 64, 4));
  const mark = await simMark("openai");
  const { data, error, response } = await user.client.functions.invoke("generate-image-to-image", {
    body: {
      task_id: "concept-1",
      prompt: "a cosy cabin",
      style: "watercolour",
      input_image_asset_url: input,
      n: 3,
      background: "transparent",
      quality: "low",
    },
    headers: { authorization: `Bearer ${user.token}` },
  });
  assert.equal(error, null);
  assert.equal(response?.status, 202);
  const s = await waitForJob(user, data.job_id, "openai");
  assert.equal(s.status, "complete", JSON.stringify(s));
  assert.equal(s.asset_urls.length, 3);
  assert.equal(s.asset_url, s.asset_urls[0]);
  for (const url of s.asset_urls) {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(sniffImage(new Uint8Array(await res.arrayBuffer())), "png");
  }
  const rows = await db()`
    select image_index, status, storage_path, prompt, style from public.concept_images
    where job_id = ${data.job_id} order by image_index`;
  assert.equal(rows.length, 3);
  rows.forEach((r, i) => {
    assert.equal(r.status, "complete");
    assert.equal(r.image_index, i);
    assert.equal(r.storage_path, `${user.id}/concepts/concept-1/${data.job_id}-${i}.png`);
  });

  const edits = await simRequests("openai", mark, "&method=POST&path=/v1/images/edits");
  assert.equal(edits.length, 1, "one billed edit");
  const b = edits[0].body;
  assert.equal(b.model, "gpt-image-1");
  assert.equal(String(b.n), "3");
  assert.equal(b.background, "transparent");
  assert.match(String(b.prompt), /a cosy cabin Style: watercolour/);
  const images = b["image[]"] ?? (b.image ? [b.image] : []);
  assert.ok(images.length >= 1, `image part sent: ${JSON.stringify(b)}`);
  assert.equal(images[0].type, "image/png");
});

it("image-to-image moderation refusal: failed with a clear error, no retry", async () => {
  const user = await newUser("i2i-mod");
  const input = await uploadInput(user, "photo.png", makePng(32, 32, 5));
  const mark = await simMark("openai");
  const { data } = await user.client.functions.invoke("generate-image-to-image", {
    body: { task_id: "mod-1", prompt: "forbidden [sim:moderation]", input_image_asset_url: input },
    headers: { authorization: `Bearer ${user.token}` },
  });
  const s = await waitForJob(user, data.job_id, "openai");
  assert.equal(s.status, "failed");
  assert.equal(s.error_code, "content_policy");
  assert.ok(s.error && !/https?:|sk-|stack/i.test(s.error), s.error ?? "");
  const edits = await simRequests("openai", mark, "&method=POST&path=/v1/images/edits");
  assert.equal(edits.length, 1);
  const [row] =
    await db()`select status, error from public.concept_images where job_id = ${data.job_id}`;
  assert.equal(row.status, "failed");
});
