// The stand-in's Realtime relay, switched off for a diagnostic run. On the platform, Realtime
// reads realtime.messages from the WAL (logical replication), outside the writer's transaction.
// This Postgres runs with wal_level = replica, so the stand-in announces each statement's
// messages with NOTIFY instead (localstack/db/bootstrap/30_realtime.sql). NOTIFY has a cost the
// platform does not: every notifying transaction takes one database-wide lock at commit and keeps
// it through its WAL flush, so those commits run one at a time. With the relay off, the product's
// triggers still write every message (what a hosted database runs); only delivery stops, so no
// Realtime figure can be taken meanwhile.
import type postgres from "postgres";

const TRIGGER = "realtime_standin_notify";

export async function setStandinRelay(sql: postgres.Sql, on: boolean): Promise<void> {
  await sql.unsafe(`alter table realtime.messages ${on ? "enable" : "disable"} trigger ${TRIGGER}`);
}

/** Runs `fn` with the relay off, and always turns it back on. */
export async function withoutStandinRelay<T>(sql: postgres.Sql, fn: () => Promise<T>): Promise<T> {
  await setStandinRelay(sql, false);
  try {
    return await fn();
  } finally {
    await setStandinRelay(sql, true);
  }
}
