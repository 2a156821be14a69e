// What every section shares: the database, the stack (and any extra stack a section asks for),
// the users and their tokens, the load generators, the floor server, the report, and helpers
// that put the queue into a known state. Sections get it from main.ts and never start a stack
// of their own.
import postgres from "postgres";
import { PROJECT_ROOT } from "../localstack/db/prepare.ts";
import { type StackOptions, startStack } from "../localstack/stack.ts";
import type { FunctionConfig } from "../localstack/runtime/runner.ts";
import type {
  LoadRequest,
  LoadResult,
  PacedRequest,
  PacedResult,
  StopRequest,
} from "./load_worker.ts";
import { type Served, serveProcess } from "./proc.ts";
import { Report } from "./report.ts";
import { handleFor, type StackHandle } from "./stack_handle.ts";

export type { StackHandle };

export const FN = "generate-text-to-model";
/** The floor (bench/floor_server.ts) as a function of the main stack. */
export const FLOOR_FN = "floor";
/** The floor deployed as a function (StackOptions.extraFunctions) of a bench stack. */
export const FLOOR_FUNCTION: FunctionConfig = {
  name: FLOOR_FN,
  verifyJwt: false,
  entry: "bench/floor_server.ts",
};
export const USERS = 200;
/** The stack's Tripo cap for the run: high, so paced phases never wait on it. */
export const TRIPO_CAP = 1000;
export const settings = {
  postRequests: Number(Deno.env.get("BENCH_POST_REQUESTS") ?? 2000),
  submitJobs: Number(Deno.env.get("BENCH_SUBMIT_JOBS") ?? 500),
  drainJobs: Number(Deno.env.get("BENCH_DRAIN_JOBS") ?? 20000),
};

export const say = (msg: string) => console.error(`[bench] ${msg}`);

/** The raised limits every stack of the run gets, so the figures never hit them. */
const FUNCTION_ENV = {
  RATE_LIMIT_MODEL_PER_MINUTE: "100000",
  RATE_LIMIT_IMAGE_PER_MINUTE: "100000",
  RATE_LIMIT_REFINE_PER_MINUTE: "100000",
  USER_MAX_ACTIVE_JOBS: "100000",
  TRIPO_MAX_CONCURRENCY: String(TRIPO_CAP),
};

/** A Web Worker running load_worker.ts; one request at a time. */
class LoadGenerator {
  #w: Worker | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  run<R>(msg: LoadRequest | PacedRequest): Promise<R> {
    const next = this.#chain.then(() =>
      new Promise<R>((resolve, reject) => {
        const w = this.#w ??= new Worker(new URL("./load_worker.ts", import.meta.url), {
          type: "module",
        });
        w.onmessage = (e: MessageEvent<R>) => resolve(e.data);
        w.onerror = (e) => reject(new Error(e.message));
        w.postMessage(msg);
      })
    );
    this.#chain = next.catch(() => {});
    return next;
  }
  /** Posts without waiting for an answer (a stop request to a running paced run). */
  signal(msg: StopRequest): void {
    this.#w?.postMessage(msg);
  }
  terminate(): void {
    this.#w?.terminate();
  }
}

export class BenchContext {
  readonly report = new Report();
  readonly say = say;
  #cleanups: (() => Promise<void>)[] = [];
  #extra = new Map<string, Promise<StackHandle>>();
  #floor: Promise<Served> | undefined;
  #closed = new LoadGenerator();
  #paced = new LoadGenerator();

  private constructor(
    readonly dbUrl: string,
    readonly dataDir: string,
    /** Direct connection (the bench owns this database). */
    readonly sql: postgres.Sql,
    readonly users: string[],
    readonly main: StackHandle,
  ) {}

  static async create(dbUrl: string, dataDir: string): Promise<BenchContext> {
    // The floor is also deployed as a function of the main stack (bench/floor_server.ts).
    const stack = await startStack(stackOptions(dbUrl, `${dataDir}/main`, {
      extraFunctions: [FLOOR_FUNCTION],
    }));
    try {
      const sql = postgres(dbUrl, { max: 4, onnotice: () => {} });
      await sql`create schema if not exists bench`;
      await sql`
        create table if not exists bench.floor_jobs (
          id uuid primary key default gen_random_uuid(),
          user_id uuid not null,
          task_id text not null,
          prompt text not null,
          created_at timestamptz not null default now()
        )`;
      const users = (await sql<{ id: string }[]>`
        insert into auth.users (id, email)
        select gen_random_uuid(), 'bench-' || i || '@example.com'
        from generate_series(1, ${USERS}) i
        returning id`).map((r) => r.id);
      const main = await handleFor("main", stack, users);
      return new BenchContext(dbUrl, dataDir, sql, users, main);
    } catch (e) {
      await stack.stop().catch(() => {});
      throw e;
    }
  }

  /** Runs `fn` at the end of the run (in reverse order), whatever happened. */
  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.push(async () => await fn());
  }

  /**
   * Another stack on the same database, started once per key and stopped at the end. Its
   * process-jobs competes with the main stack's for jobs: pause the main one while using it.
   */
  extraStack(key: string, opts: Partial<StackOptions>): Promise<StackHandle> {
    let p = this.#extra.get(key);
    if (!p) {
      p = (async () => {
        const s = await startStack(stackOptions(this.dbUrl, `${this.dataDir}/${key}`, opts));
        this.defer(() => s.stop());
        return await handleFor(key, s, this.users);
      })();
      this.#extra.set(key, p);
    }
    return p;
  }

  /** Closed-loop generation POSTs from a Web Worker. */
  runLoad(req: Omit<LoadRequest, "mode">): Promise<LoadResult> {
    // Task ids must match [A-Za-z0-9_-]; a prefix with other characters would make every
    // request a 400.
    return this.#closed.run({ ...req, prefix: req.prefix.replace(/[^A-Za-z0-9_-]+/g, "_") });
  }

  /** Open-loop paced requests from a second Web Worker (runs beside runLoad). */
  runPaced(req: Omit<PacedRequest, "mode">): Promise<PacedResult> {
    return this.#paced.run({ mode: "paced", ...req });
  }

  /** Ends the running paced run early; its promise then resolves with what it sent. */
  stopPaced(): void {
    this.#paced.signal({ mode: "stop" });
  }

  /**
   * The floor as a bare process (bench/floor_server.ts), started on first use: the same minimal
   * POST, through the same pooler as the functions, without the Edge runtime around it. The
   * floor as a function of the main stack: `main.directUrl(FLOOR_FN)`, `main.fnUrl(FLOOR_FN)`.
   */
  floor(): Promise<Served> {
    this.#floor ??= (async () => {
      const served = await serveProcess(`${PROJECT_ROOT}bench/floor_server.ts`, {
        FLOOR_DB_URL: this.main.stack.poolerUrl,
        FLOOR_JWKS: JSON.stringify(this.main.stack.keys.jwks),
      });
      this.defer(() => served.stop());
      return served;
    })();
    return this.#floor;
  }

  async floorUrl(): Promise<string> {
    return `http://127.0.0.1:${(await this.floor()).port}/floor`;
  }

  /** Ends every non-terminal job except the cap fillers. */
  async cancelOpenJobs(): Promise<void> {
    await this.sql`
      update public.jobs set state = 'cancelled', error_code = 'cancelled', finished_at = now(),
        lease_token = null, lease_expires_at = null
      where state in ('queued', 'running') and provider_task_id is distinct from 'bench-filler'`;
    await this.#vacuumIfNoAutovacuum();
  }

  #autovacuum: Promise<boolean> | undefined;
  /**
   * The platform's Postgres runs autovacuum; a machine whose server has it off (this project's
   * development machine does) would keep every row version these bulk cancels leave behind, and
   * each later block's enqueues walk them in the open-jobs indexes (18k dead versions made
   * bff.enqueue_job 0.96–1.02 → 1.24–1.29 ms in one backend). The cancels are the bench's, not
   * the traffic's, so what they leave is vacuumed away between blocks (20–40 ms), as autovacuum
   * would in time; the floor's table never has any.
   */
  async #vacuumIfNoAutovacuum(): Promise<void> {
    this.#autovacuum ??= this.sql<{ autovacuum: string }[]>`show autovacuum`.then((r) =>
      r[0].autovacuum === "on"
    );
    if (!(await this.#autovacuum)) {
      await this
        .sql`vacuum public.jobs, public.models, public.concept_images, public.credit_accounts`;
    }
  }

  /**
   * After a section failed: no cap fillers, no open jobs, every stack's simulators back to the
   * run's settings, every extra stack's worker stopped, so the next section starts as usual.
   */
  async recover(): Promise<void> {
    this.stopPaced();
    await this.clearTripoCap();
    await this.cancelOpenJobs();
    const extra = (await Promise.allSettled(this.#extra.values()))
      .flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
    for (const h of extra) await h.pauseWorker();
    for (const h of [this.main, ...extra]) {
      await h.simConfig("tripo", { queueMs: 0, runMs: 0, cap: 100000, glbSize: 64 * 1024 });
      await h.simConfig("openai", { latencyMs: 0, imageSide: 64 });
    }
  }

  /** Ends the non-terminal jobs whose client task id starts with `prefix`. */
  async cancelJobsLike(prefix: string): Promise<void> {
    await this.sql`
      update public.jobs set state = 'cancelled', error_code = 'cancelled', finished_at = now(),
        lease_token = null, lease_expires_at = null
      where state in ('queued', 'running') and client_task_id like ${`${prefix}%`}`;
  }

  /**
   * Fills the Tripo cap with placeholder in-flight jobs, so new jobs wait in the queue (as a
   * burst does against the real cap) while the nudge → process-jobs → claim path stays live:
   * the worker wakes and claims, but does no provider work that would compete for the cores.
   */
  async fillTripoCap(): Promise<void> {
    await this.clearTripoCap();
    await this.sql`
      insert into public.jobs (user_id, kind, provider, client_task_id, request, idempotency_key,
        request_hash, rate_bucket, state, provider_task_id, submitted_at, run_at, deadline_at)
      select ${this.users[0]}::uuid, 'text_to_model', 'tripo', 'filler-' || g, '{}'::jsonb,
        'bench:filler:' || g, 'h', 'model', 'running', 'bench-filler', now(),
        now() + interval '1 day', now() + interval '1 day'
      from generate_series(1, ${TRIPO_CAP}) g`;
  }

  async clearTripoCap(): Promise<void> {
    await this.sql`delete from public.jobs where provider_task_id = 'bench-filler'`;
  }

  /** Waits until none of `ids` (or no job at all) is queued or running. */
  async jobsSettled(ids?: string[]): Promise<boolean> {
    const [r] = ids
      ? await this.sql`
        select count(*)::int as n from public.jobs
        where id = any (${ids}::uuid[]) and state in ('queued', 'running')`
      : await this.sql`
        select count(*)::int as n from public.jobs
        where state in ('queued', 'running') and provider_task_id is distinct from 'bench-filler'`;
    return r.n === 0;
  }

  async close(): Promise<void> {
    for (const c of this.#cleanups.reverse()) {
      try {
        await c();
      } catch { /* best effort */ }
    }
    this.#cleanups = [];
    this.#closed.terminate();
    this.#paced.terminate();
    await this.sql.end({ timeout: 5 }).catch(() => {});
    await this.main.stack.stop().catch(() => {});
  }
}

function stackOptions(dbUrl: string, dataDir: string, extra: Partial<StackOptions>): StackOptions {
  return {
    port: 0,
    dbUrl,
    skipMigrations: true,
    cronIntervalMs: 0,
    logFunctions: false,
    dataDir,
    // Isolates are not recycled by the 150 s wall clock in the middle of a measurement (a boot
    // there lands on whichever section runs at that moment); boots are measured on purpose
    // in the cold-start and EarlyDrop sections.
    wallClockMs: 3_600_000,
    ...extra,
    functionEnv: { ...FUNCTION_ENV, ...extra.functionEnv },
  };
}

/** One part of the run: measures something and adds its rows and figures to ctx.report. */
export interface Section {
  name: string;
  run(ctx: BenchContext): Promise<void>;
}
