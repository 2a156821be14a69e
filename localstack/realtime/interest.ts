// Which topics this stand-in has channels joined on, kept in realtime_standin.listened_topics so
// that the database announces only those messages (db/bootstrap/30_realtime.sql): the platform's
// reader costs a writer nothing, and a NOTIFY for every message nobody listens to would make the
// stand-in part of every figure. A join waits for `acquire`: the topic is registered, then the
// transactions that may have missed the registration are waited out, so a message committed
// after the join's answer is always announced. Registrations and removals of one topic run in
// order; the last channel leaving removes the row.
import type postgres from "postgres";
import { awaitWriters, forgetHolder, listenTopics, unlistenTopic } from "./db.ts";
import { topicKey } from "./hub.ts";

interface Entry {
  isPrivate: boolean;
  name: string;
  count: number;
  registered: boolean;
  chain: Promise<void>;
}

const RENEW_MS = 60_000;
/** A writer still open after this is not waited for any longer (the join goes ahead). */
const WRITERS_TIMEOUT_MS = 5_000;

export class TopicInterest {
  readonly holder: string;
  #sql: () => postgres.Sql;
  #log: (line: string) => void;
  #entries = new Map<string, Entry>();
  #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(holder: string, sql: () => postgres.Sql, log: (line: string) => void) {
    this.holder = holder;
    this.#sql = sql;
    this.#log = log;
    this.#timer = setInterval(() => void this.#renew(), RENEW_MS);
    void this.#renew();
  }

  /** Resolves once messages on the topic are announced; throws if the database refused. */
  async acquire(isPrivate: boolean, name: string): Promise<void> {
    const e = this.#entry(isPrivate, name);
    e.count++;
    try {
      await this.#then(e, async () => {
        if (this.#closed) throw new Error("realtime stand-in is not running");
        if (e.registered || e.count === 0) return;
        await listenTopics(this.#sql(), this.holder, [{ topic: name, private: isPrivate }]);
        e.registered = true;
        if (!(await awaitWriters(this.#sql(), WRITERS_TIMEOUT_MS))) {
          this.#log(`join ${name}: a writer stayed open past ${WRITERS_TIMEOUT_MS} ms`);
        }
      });
    } catch (err) {
      this.release(isPrivate, name);
      throw err;
    }
  }

  release(isPrivate: boolean, name: string): void {
    const e = this.#entries.get(topicKey(isPrivate, name));
    if (!e || e.count === 0) return;
    e.count--;
    if (e.count > 0) return;
    void this.#then(e, async () => {
      if (this.#closed || e.count > 0 || !e.registered) return;
      await unlistenTopic(this.#sql(), this.holder, name, isPrivate);
      e.registered = false;
    }).catch((err) => this.#log(`unlisten ${name}: ${err instanceof Error ? err.message : err}`))
      .finally(() => {
        if (e.count === 0 && !e.registered && this.#entries.get(topicKey(isPrivate, name)) === e) {
          this.#entries.delete(topicKey(isPrivate, name));
        }
      });
  }

  /** Stops renewing and removes every row of this holder (best effort: the database may be down). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#entries.clear();
    await forgetHolder(this.#sql(), this.holder).catch((err) =>
      this.#log(`forgetting ${this.holder}: ${err instanceof Error ? err.message : err}`)
    );
  }

  #entry(isPrivate: boolean, name: string): Entry {
    const k = topicKey(isPrivate, name);
    let e = this.#entries.get(k);
    if (!e) {
      e = { isPrivate, name, count: 0, registered: false, chain: Promise.resolve() };
      this.#entries.set(k, e);
    }
    return e;
  }

  #then(e: Entry, op: () => Promise<void>): Promise<void> {
    const run = e.chain.then(op);
    e.chain = run.catch(() => {});
    return run;
  }

  async #renew(): Promise<void> {
    const topics = [...this.#entries.values()]
      .filter((e) => e.registered)
      .map((e) => ({ topic: e.name, private: e.isPrivate }));
    try {
      await listenTopics(this.#sql(), this.holder, topics);
    } catch (err) {
      this.#log(`renewing listened topics: ${err instanceof Error ? err.message : err}`);
    }
  }
}
