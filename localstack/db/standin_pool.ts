// The Postgres pool of one stand-in (Storage, Auth). Every query a stand-in makes is ONE
// statement (transactions live inside SQL), as in the functions: a client-side transaction would
// leave its outcome to guess when a connection resets mid-way. The options:
// - `fetch_types: false`: no array-type lookup on every (re)connect; stand-ins never pass or read
//   Postgres arrays as such (they go as array literals / jsonb).
// - `connect_timeout` and a capped `backoff`: a connect caught by a reset does not wait the
//   default 30 s, and reconnects after a burst of resets back off for at most 2 s.
// - `application_name`: so a test (or an operator) can find exactly this pool's connections.
// postgres.js 3.4.9 needed a pool that replaced itself after a reset, and repaired shifted rows;
// 4.x recovers by itself (tests/localstack/standins_resets.test.ts, tests/db/pool_resets.test.ts).
import postgres from "postgres";

const code = (err: unknown) => String((err as { code?: unknown })?.code ?? "");

export function standinPool(dbUrl: string, name: string, max = 10): postgres.Sql {
  return postgres(dbUrl, {
    max,
    onnotice: () => {},
    fetch_types: false,
    connect_timeout: 5,
    backoff: (attempt) => Math.min(0.05 * 2 ** attempt, 2),
    connection: { application_name: name },
  });
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
