// Delivery of what realtime.send wrote. The real server reads realtime.messages through logical
// replication (a temporary slot: what is written while it is disconnected is never delivered);
// this Postgres has wal_level = replica, so the bootstrap's stand-in trigger NOTIFYs each
// committed row and this module LISTENs on the direct connection. Notifications arrive in commit
// order; they are handled strictly one after the other (a row too big for a notification is read
// back before the next one is looked at), so each topic's messages go out in commit order.
// postgres.js re-LISTENs by itself after a dropped connection but gives up silently if that
// fails, so a liveness probe (a NOTIFY to ourselves) rebuilds the connection when it goes quiet.
import type postgres from "postgres";
import { fetchMessage, type StoredMessage } from "./db.ts";

export const CHANNEL = "realtime_standin_messages";

export interface ListenerOptions {
  /** Makes the connection the LISTEN runs on (a fresh pool each time it is rebuilt). */
  connect: () => postgres.Sql;
  onMessage: (m: StoredMessage) => void;
  log: (line: string) => void;
  /** How often the liveness probe runs (default 2000 ms). */
  probeMs?: number;
}

/** A message as announced: whole, or only its key when too big for a notification. */
type Note = Partial<StoredMessage> & { id?: string; inserted_at?: string };

export class Listener {
  #opts: ListenerOptions;
  #sql: postgres.Sql | null = null;
  #chain: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending = new Map<string, number>();
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
        (raw) => {
          this.#chain = this.#chain.then(() => this.#handle(sql, raw)).catch((e) =>
            this.#opts.log(`delivery failed: ${e instanceof Error ? e.message : e}`)
          );
        },
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

  async #handle(sql: postgres.Sql, raw: string): Promise<void> {
    // A statement's messages arrive as one array (realtime_standin.notify_messages in
    // db/bootstrap/30_realtime.sql); the liveness probe's ping as an object.
    const note = JSON.parse(raw) as Note[] | { ping?: string };
    if (!Array.isArray(note)) {
      if (note.ping) this.#pending.delete(note.ping);
      return;
    }
    for (const n of note) {
      if (!n.id) continue;
      const m = "topic" in n
        ? (n as StoredMessage)
        : await fetchMessage(sql, n.id, n.inserted_at ?? "");
      if (m) this.#opts.onMessage(m);
      else this.#opts.log(`message ${n.id} was gone before it could be read back`);
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
