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
// - rows repaired: see repairRows.
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

/** Wraps a pool so that every tagged-template statement resolves to repaired rows. */
function repairing(sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    apply(target, self, args) {
      const q = Reflect.apply(target, self, args);
      // `sql(values)` helpers are not statements; fragments are never awaited, so unaffected.
      if (!(q instanceof Promise)) return q;
      const then = q.then;
      Object.defineProperty(q, "then", {
        value: (ok?: (v: unknown) => unknown, ko?: (e: unknown) => unknown) =>
          then.call(q, repairRows).then(ok, ko),
      });
      return q;
    },
  });
}

export function standinPool(dbUrl: string, name: string, max = 10): postgres.Sql {
  return repairing(postgres(dbUrl, {
    max,
    onnotice: () => {},
    fetch_types: false,
    connect_timeout: 10,
    backoff: (attempt) => Math.min(0.05 * 2 ** attempt, 2),
    connection: { application_name: name },
  }));
}

/**
 * A lost or reset database connection (server-side termination, socket errors, postgres.js's
 * own connection codes): expected while Postgres restarts or a test resets connections, so the
 * stand-ins log it as one line rather than with a stack.
 */
export function connectionLost(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? "");
  return /^(57P0[1-3]|08\d{3}|E[A-Z]+|CONNECT(ION)?_[A-Z]+)$/.test(code) ||
    /socket has been ended/.test(String((err as Error)?.message));
}

/** What a stand-in logs about an unexpected error: one line for a lost connection. */
export function describeFailure(err: unknown): unknown {
  return connectionLost(err)
    ? `${(err as { code?: string }).code ?? ""} ${(err as Error).message}`
    : err;
}
