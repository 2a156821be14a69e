// A counting semaphore: at most `size` callers inside `run` at once, the rest wait in arrival
// order. The worker uses it to bound the steps that hold a provider's output (an OpenAI answer
// with its images, a model streamed into Storage) separately from the many light ones.

export interface Slots {
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Callers inside `run` now. */
  readonly busy: number;
  /** Callers waiting for a slot. */
  readonly waiting: number;
}

export function createSlots(size: number): Slots {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`slots: size ${size}`);
  let busy = 0;
  const queue: (() => void)[] = [];
  return {
    async run<T>(fn: () => Promise<T>): Promise<T> {
      if (busy >= size) await new Promise<void>((resolve) => queue.push(resolve));
      else busy++;
      try {
        return await fn();
      } finally {
        // The slot passes straight to the next waiter, so `busy` never dips under a waiter.
        const next = queue.shift();
        if (next) next();
        else busy--;
      }
    },
    get busy() {
      return busy;
    },
    get waiting() {
      return queue.length;
    },
  };
}
