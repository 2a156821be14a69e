// Delivery of what realtime.send wrote. The real server reads realtime.messages through logical
// replication (a temporary slot: what is written while it is disconnected is never delivered);
// this Postgres has wal_level = replica, so the bootstrap's stand-in trigger NOTIFYs the keys of
// each statement's committed rows and this module LISTENs on the direct connection and reads the
// rows back. Notifications arrive in commit order; the keys are read back in that order, those
// that queued up while a read was running together in the next one, so each topic's messages go
// out in commit order.
// postgres.js re-LISTENs by itself after a dropped connection but gives up silently if that
// fails, so a liveness probe (a NOTIFY to ourselves) rebuilds the connection when it goes quiet.
import type postgres from "postgres";
import { fetchMessages, type MessageKey, type StoredMessage } from "./db.ts";

export const CHANNEL = "realtime_standin_messages";

export interface ListenerOptions {
  /** Makes the connection the LISTEN runs on (a fresh pool each time it is rebuilt). */
  connect: () => postgres.Sql;
  onMessage: (m: StoredMessage) => void;
  log: (line: string) => void;
  /** How often the liveness probe runs (default 2000 ms). */
  probeMs?: number;
}

/** What one notification announces: the keys of rows one statement wrote (bootstrap.sql). */
type Note = { at?: string; ids?: string[]; ping?: string };

/** Keys read back per query at most. */
const READ_BATCH = 500;

export class Listener {
  #opts: ListenerOptions;
  #sql: postgres.Sql | null = null;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending = new Map<string, number>();
  /** Announced keys not read back yet, in commit order. */
  #keys: MessageKey[] = [];
  #reading = false;
  #stopped = false;
  #rebuilding = false;
  #listening = false;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
  }

  /** True while the LISTEN is in place (what `replication_ready` reports). */
  get listening(): boolean {
    return this.#listening;
  }

  /** Resolves once the LISTEN is established. */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#listen();
    const every = this.#opts.probeMs ?? 2000;
    this.#timer = setInterval(() => this.#probe(every * 3), every);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#listening = false;
    const sql = this.#sql;
    this.#sql = null;
    await sql?.end({ timeout: 1 }).catch(() => {});
    await this.#chain;
  }

  async #listen(): Promise<void> {
    const sql = this.#opts.connect();
    this.#sql = sql;
    try {
      await sql.listen(
        CHANNEL,
        (raw) => this.#announced(raw),
        () => {
          this.#listening = true;
        },
      );
    } catch (e) {
      if (this.#sql === sql) this.#sql = null;
      await sql.end({ timeout: 0 }).catch(() => {});
      throw e;
    }
  }

  #announced(raw: string): void {
    // A statement's keys (bootstrap.sql, realtime_standin.notify_messages); the liveness probe's
    // ping.
    let note: Note;
    try {
      note = JSON.parse(raw) as Note;
    } catch {
      this.#opts.log("an announcement that is not JSON was ignored");
      return;
    }
    if (note.ping) {
      this.#pending.delete(note.ping);
      return;
    }
    const at = note.at;
    if (!at || !Array.isArray(note.ids)) return;
    for (const id of note.ids) this.#keys.push({ id, at });
    if (this.#reading) return;
    this.#reading = true;
    this.#chain = this.#read().catch((e) =>
      this.#opts.log(`delivery failed: ${e instanceof Error ? e.message : e}`)
    ).finally(() => {
      this.#reading = false;
    });
  }

  async #read(): Promise<void> {
    while (this.#keys.length > 0) {
      // Read over the current connection; with none (stopped, or being rebuilt) what was
      // announced is dropped, as the server's reader drops what it missed while disconnected.
      const sql = this.#sql;
      if (!sql) {
        this.#keys = [];
        return;
      }
      const keys = this.#keys.splice(0, READ_BATCH);
      const rows = await fetchMessages(sql, keys).catch((e) => {
        this.#opts.log(`${keys.length} messages not delivered: ${e instanceof Error ? e.message : e}`);
        return null;
      });
      if (!rows) continue;
      const byId = new Map(rows.map((m) => [m.id, m]));
      for (const k of keys) {
        const m = byId.get(k.id);
        if (m) this.#opts.onMessage(m);
        else this.#opts.log(`message ${k.id} was gone before it could be read back`);
      }
    }
  }

  /** Sends a ping through the channel; one not heard back within `deadlineMs` means rebuild. */
  #probe(deadlineMs: number): void {
    const sql = this.#sql;
    if (this.#stopped || this.#rebuilding) return;
    const now = Date.now();
    const overdue = [...this.#pending.values()].some((sent) => now - sent > deadlineMs);
    if (overdue || !sql) {
      void this.#rebuild();
      return;
    }
    const nonce = crypto.randomUUID();
    this.#pending.set(nonce, now);
    sql`select pg_notify(${CHANNEL}, ${JSON.stringify({ ping: nonce })})`.catch(() => {});
  }

  async #rebuild(): Promise<void> {
    this.#rebuilding = true;
    this.#listening = false;
    this.#pending.clear();
    this.#opts.log("LISTEN connection lost; reconnecting (messages meanwhile are not delivered)");
    const old = this.#sql;
    this.#sql = null;
    await old?.end({ timeout: 0 }).catch(() => {});
    try {
      if (!this.#stopped) await this.#listen();
    } catch (e) {
      this.#opts.log(`LISTEN failed: ${e instanceof Error ? e.message : e}`);
    } finally {
      this.#rebuilding = false;
    }
  }
}
