// The worker's bound on memory-heavy steps (jobs/slots.ts): never more than `size` inside at
// once, waiters served in arrival order, a slot handed back when its holder throws.
import assert from "node:assert/strict";
import { createSlots } from "../../supabase/functions/_shared/jobs/slots.ts";

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("slots: at most size at once, waiters in arrival order", async () => {
  const slots = createSlots(2);
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const runs = Array.from({ length: 6 }, (_, i) =>
    slots.run(async () => {
      inside++;
      most = Math.max(most, inside);
      order.push(i);
      await new Promise<void>((r) => gates.push(r));
      inside--;
      return i;
    }));
  await tick();
  assert.equal(slots.busy, 2);
  assert.equal(slots.waiting, 4);
  assert.deepEqual(order, [0, 1]);
  // Release one at a time: each release lets exactly the next waiter in.
  for (let released = 0; released < 6; released++) {
    gates.shift()!();
    await tick();
    await tick();
  }
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  assert.equal(most, 2);
  assert.equal(slots.busy, 0);
  assert.equal(slots.waiting, 0);
});

Deno.test("slots: a holder that throws hands its slot on", async () => {
  const slots = createSlots(1);
  const failing = slots.run(() => Promise.reject(new Error("boom")));
  const next = slots.run(() => Promise.resolve("ran"));
  await assert.rejects(failing, /boom/);
  assert.equal(await next, "ran");
  assert.equal(slots.busy, 0);
});

Deno.test("slots: a size that is not a positive integer is refused", () => {
  assert.throws(() => createSlots(0), RangeError);
  assert.throws(() => createSlots(1.5), RangeError);
});
