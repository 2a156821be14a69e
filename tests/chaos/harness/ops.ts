// Operating on a chaos stack from the outside: extra process-jobs isolates, a lease audit,
// time travel for leases, and a fault-injecting proxy in front of the gateway.
import type { Isolate } from "../../../localstack/runtime/runner.ts";
import { sleep } from "./sims.ts";
import type { ChaosStack } from "./stack.ts";

/** Extra process-jobs isolates outside the gateway's routing, called directly by port. */
export async function extraWorkers(cs: ChaosStack, n: number): Promise<Isolate[]> {
  const runner = cs.stack.functions.get("process-jobs")!;
  const isolates = Array.from({ length: n }, () => runner.spawn());
  await Promise.all(isolates.map((i) => i.ready));
  return isolates;
}

export async function kickProcess(cs: ChaosStack, p: Isolate, wait = true) {
  try {
    const res = await fetch(
      `http://127.0.0.1:${p.port}/process-jobs${wait ? "?wait=true" : ""}`,
      {
        method: "POST",
        headers: { apikey: cs.stack.serviceKey, "content-type": "application/json" },
        body: "{}",
      },
    );
    return await res.json().catch(() => null);
  } catch {
    return null;
  }
}

/**
 * Test-only audit trigger on this test's own database: records every claim that takes over a
 * job whose previous lease was still live (two holders at once would be a double-process).
 */
export async function installLeaseAudit(cs: ChaosStack): Promise<void> {
  await cs.sql.unsafe(`
    create table if not exists public.chaos_lease_audit (
      job_id uuid, old_token uuid, new_token uuid, old_expires timestamptz, at timestamptz
    );
    create or replace function public.chaos_lease_audit_fn() returns trigger
    language plpgsql as $$
    begin
      if new.lease_token is not null and new.lease_token is distinct from old.lease_token then
        insert into public.chaos_lease_audit
        values (new.id, old.lease_token, new.lease_token, old.lease_expires_at, clock_timestamp());
      end if;
      return new;
    end $$;
    drop trigger if exists chaos_lease_audit on public.jobs;
    create trigger chaos_lease_audit before update on public.jobs
      for each row execute function public.chaos_lease_audit_fn();
  `);
}

/** Claims that took a job while another lease on it was still live. */
export async function leaseOverlaps(cs: ChaosStack): Promise<number> {
  const [r] = await cs.sql`
    select count(*)::int as n from public.chaos_lease_audit
    where old_token is not null and old_expires > at`;
  return r.n;
}

/** Time travel for crash tests: the dead worker's leases expire now, not after the lease. */
export async function expireLeases(cs: ChaosStack): Promise<number> {
  const r = await cs.sql`
    update public.jobs set lease_expires_at = now(), run_at = now()
    where state in ('queued', 'running') and lease_token is not null`;
  return r.count;
}

export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// --- a fault-injecting proxy in front of the gateway (Storage faults) -------------------------

export interface ProxyRule {
  /** Substring of "METHOD path" the rule applies to. */
  contains: string;
  mode: "fail" | "stall";
  /** For stall: how long the request is held (its body unread) before a 503. */
  stallMs?: number;
  times: number;
}

export function startProxy() {
  let target = "";
  const rules: ProxyRule[] = [];
  const hits = new Map<string, number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const key = `${req.method} ${url.pathname}`;
    const rule = rules.find((r) => r.times !== 0 && key.includes(r.contains));
    if (rule) {
      if (rule.times > 0) rule.times--;
      hits.set(rule.mode, (hits.get(rule.mode) ?? 0) + 1);
      if (rule.mode === "stall") await sleep(rule.stallMs ?? 30_000);
      await req.body?.cancel().catch(() => {});
      return new Response(JSON.stringify({ statusCode: "503", error: "injected", message: "x" }), {
        status: 503,
        headers: { "content-type": "application/json" },
      });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    try {
      const res = await fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
      });
      return new Response(res.body, { status: res.status, headers: res.headers });
    } catch {
      return new Response("proxy upstream error", { status: 502 });
    }
  });
  const port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    rules,
    hits,
    setTarget(u: string) {
      target = u;
    },
    close: () => server.shutdown(),
  };
}
