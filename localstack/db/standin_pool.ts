// The Postgres pool of one stand-in (Storage, Auth). Every query a stand-in makes is ONE
// statement (transactions live inside SQL): postgres.js 3.4.9 `sql.begin()` throws uncaught
// errors into the process when a connection is reset mid-transaction. The options below close
// the other ways a reset leaks, stalls or garbles a request in that version:
// - `fetch_types: false`: the array-type lookup it runs on every (re)connect is not awaited, so
//   a reset during it is an unhandled rejection. Stand-ins therefore never pass or read Postgres
//   arrays as such (they go as array literals / jsonb).
// - `connect_timeout` and a capped `backoff`: a connect caught by a reset can otherwise wait the
//   default 30 s, and reconnects after a burst of resets back off for up to 20 s.
// - `application_name`: so a test (or an operator) can find exactly this pool's connections.
// - state a reset leaves behind in a connection: see selfHealing and repairRows.
import postgres from "postgres";

/**
 * postgres.js 3.4.9 numbers a result's rows with a per-connection counter that only a
 * completed statement resets; a reset between a statement's rows and its completion leaves the
 * counter up, so the next result on that connection starts with holes (`[<empty>, row]`: a
 * one-row answer whose rows[0] is undefined). The rows themselves are right, only shifted:
 * dropping the holes restores the answer.
 */
export function repairRows<T>(rows: T): T {
  if (!Array.isArray(rows) || Object.keys(rows).length === rows.length) return rows;
  return rows.filter(() => true) as T;
}

const code = (err: unknown) => String((err as { code?: unknown })?.code ?? "");

/**
 * A pool whose statements resolve to repaired rows and which starts afresh after a lost
 * connection. postgres.js 3.4.9 keeps per-connection state across a reset that hit an active
 * statement, and the slot's next use pays for it: a stored FATAL (57P01) rejects the next
 * statement during the reconnect, before it is sent; a pending-write handle that `closed()`
 * clears but keeps makes the next connect never send its startup message (CONNECT_TIMEOUT,
 * and again on every later connect); the row counter shifts the next result (repairRows). Each
 * starts with a statement failing on a lost connection, so that is when the pool is replaced
 * by a fresh one (the old one ends in the background, its statements still finishing). A
 * statement that timed out connecting was never sent: it runs once more on the fresh pool.
 */
function selfHealing(make: () => postgres.Sql): postgres.Sql {
  let current = make();
  let ended = false;
  const retiring = new Set<postgres.Sql>();
  const renew = (failed: postgres.Sql) => {
    if (failed !== current || ended) return; // already renewed, or shutting down
    current = make();
    retiring.add(failed);
    failed.end({ timeout: 5 }).catch(() => {}).finally(() => retiring.delete(failed));
  };
  const run = (args: unknown[]): unknown => {
    const pool = current;
    const q = Reflect.apply(pool, undefined, args);
    // `sql(values)` helpers are not statements; fragments are never awaited, so unaffected.
    if (!(q instanceof Promise)) return q;
    const then = q.then;
    const settled = () =>
      then.call(q, repairRows).catch((err: unknown) => {
        if (!connectionLost(err)) throw err;
        renew(pool);
        if (code(err) !== "CONNECT_TIMEOUT" || ended) throw err;
        return (Reflect.apply(current, undefined, args) as Promise<unknown>).then(repairRows);
      });
    Object.defineProperty(q, "then", {
      value: (ok?: (v: unknown) => unknown, ko?: (e: unknown) => unknown) => settled().then(ok, ko),
    });
    return q;
  };
  const end = async (opts?: { timeout?: number }) => {
    ended = true;
    await Promise.all([current, ...retiring].map((p) => p.end(opts)));
  };
  return new Proxy(current, {
    apply: (_target, _self, args) => run(args),
    get: (_target, prop) => prop === "end" ? end : Reflect.get(current, prop),
  });
}

export function standinPool(dbUrl: string, name: string, max = 10): postgres.Sql {
  const make = () =>
    postgres(dbUrl, {
      max,
      onnotice: () => {},
      fetch_types: false,
      connect_timeout: 5,
      backoff: (attempt) => Math.min(0.05 * 2 ** attempt, 2),
      connection: { application_name: name },
    });
  return selfHealing(make);
}

/**
 * A lost or reset database connection (server-side termination, socket errors, postgres.js's
 * own connection codes): expected while Postgres restarts or a test resets connections, so the
 * stand-ins log it as one line rather than with a stack.
 */
export function connectionLost(err: unknown): boolean {
  return /^(57P0[1-3]|08\d{3}|E[A-Z]+|CONNECT(ION)?_[A-Z]+)$/.test(code(err)) ||
    /socket has been ended/.test(String((err as Error)?.message));
}

/** What a stand-in logs about an unexpected error: one line for a lost connection. */
export function describeFailure(err: unknown): unknown {
  return connectionLost(err)
    ? `${(err as { code?: string }).code ?? ""} ${(err as Error).message}`
    : err;
}
