// A bounded wait on a promise that may never settle (a hung driver, a pooler that drops answers).

/** Settles `p` or reports "timeout" after `ms`; the timer is always cleared. */
export async function within<T>(p: Promise<T>, ms: number): Promise<
  { ok: true; value: T } | { ok: false; error: unknown } | "timeout"
> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
  try {
    return await Promise.race([
      p.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error })),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
