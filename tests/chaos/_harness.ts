// Reliability-suite harness, one import for the chaos tests: private stacks (harness/stack.ts),
// recording and fault-injecting simulators (harness/sims.ts), the end-of-run checks
// (harness/checks.ts) and operations from outside (harness/ops.ts).
export { inspectGlb } from "../../localstack/simulators/glb.ts";
export { makePng } from "../../localstack/simulators/images.ts";
export * from "./harness/checks.ts";
export * from "./harness/ops.ts";
export * from "./harness/sims.ts";
export * from "./harness/stack.ts";

export function chaosTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** Deterministic PRNG (mulberry32), so a soak's fault schedule is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
