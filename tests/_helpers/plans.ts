// The real plans of every statement a call runs, nested ones inside SQL functions included:
// auto_explain on one connection, JSON plans sent to the client as notices.
import type postgres from "postgres";

export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Plans?: PlanNode[];
}

export interface CapturedPlan {
  "Query Text": string;
  Plan: PlanNode;
}

/** A node and every node below it. */
export function planNodes(n: PlanNode): PlanNode[] {
  return [n, ...(n.Plans ?? []).flatMap(planNodes)];
}

/**
 * A connection (one, so settings stick) whose calls made through `capture` log their plans.
 * `analyze` adds actual row counts (not timings).
 */
export function planCapture(sql: typeof postgres, url: string) {
  const notices: string[] = [];
  const conn = sql(url, {
    max: 1,
    idle_timeout: 5,
    onnotice: (n) => notices.push(String(n.message)),
  });
  return {
    sql: conn,
    async capture<T>(
      fn: () => Promise<T>,
      opts: { analyze?: boolean } = {},
    ): Promise<{ result: T; plans: CapturedPlan[] }> {
      await conn`load 'auto_explain'`;
      await conn.unsafe(`set auto_explain.log_analyze = ${opts.analyze ? "on" : "off"}`);
      await conn`set auto_explain.log_timing = off`;
      await conn`set auto_explain.log_nested_statements = on`;
      await conn`set auto_explain.log_format = 'json'`;
      await conn`set auto_explain.log_level = 'notice'`;
      notices.length = 0;
      await conn`set auto_explain.log_min_duration = 0`;
      let result: T;
      try {
        result = await fn();
      } finally {
        await conn`set auto_explain.log_min_duration = -1`;
      }
      const plans = notices
        .filter((m) => m.includes('"Plan"'))
        .map((m) => JSON.parse(m.slice(m.indexOf("{"))) as CapturedPlan);
      return { result, plans };
    },
  };
}
