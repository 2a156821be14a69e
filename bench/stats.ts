// Small numeric helpers shared by the benchmark phases.

/** Nearest-rank percentile (p in 0..100) of an unsorted sample; NaN when empty. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(values: ArrayLike<number>): number {
  return percentile(values, 50);
}

/** Rounds for display and JSON: 2 decimals under 10, 1 under 1000, else integer. */
export function round(n: number): number {
  if (!Number.isFinite(n)) return n;
  const abs = Math.abs(n);
  if (abs < 10) return Math.round(n * 100) / 100;
  if (abs < 1000) return Math.round(n * 10) / 10;
  return Math.round(n);
}

export function fmt(n: number | null | undefined, unit = ""): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "n/a";
  return `${round(n).toLocaleString("en-US")}${unit}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it returns a value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(everyMs);
  }
}
