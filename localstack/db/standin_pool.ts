// The Postgres pool of one stand-in (Storage, Auth). Every query a stand-in makes is ONE
// statement (transactions live inside SQL): postgres.js 3.4.9 `sql.begin()` throws uncaught
// errors into the process when a connection is reset mid-transaction. The options below close
// the other ways a reset leaks or stalls a request in that version:
// - `fetch_types: false`: the array-type lookup it runs on every (re)connect is not awaited, so
//   a reset during it is an unhandled rejection. Stand-ins therefore never pass or read Postgres
//   arrays as such (they go as array literals / jsonb).
// - `connect_timeout` and a capped `backoff`: a connect caught by a reset can otherwise wait the
//   default 30 s, and reconnects after a burst of resets back off for up to 20 s.
// - `application_name`: so a test (or an operator) can find exactly this pool's connections.
import postgres from "postgres";

export function standinPool(dbUrl: string, name: string, max = 10): postgres.Sql {
  return postgres(dbUrl, {
    max,
    onnotice: () => {},
    fetch_types: false,
    connect_timeout: 10,
    backoff: (attempt) => Math.min(0.05 * 2 ** attempt, 2),
    connection: { application_name: name },
  });
}
