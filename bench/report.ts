// The benchmark's output: rows of the table (figure, measured, reference, target, met) and the
// figures for the one `BENCH_JSON {...}` line, collected by the sections and printed by main.ts.
import { round } from "./stats.ts";

export type Row = [
  figure: string,
  measured: string,
  reference: string,
  target: string,
  met: string,
];

/** "yes" / "NO" for a figure with a target, "—" for one without (null). */
export const verdict = (ok: boolean | null): string => ok === null ? "—" : ok ? "yes" : "NO";

export class Report {
  readonly rows: Row[] = [];
  readonly json: Record<string, unknown> = {};
  /** Sections that threw: named in the table, and the run exits non-zero. */
  readonly failures: string[] = [];

  row(figure: string, measured: string, reference: string, target: string, ok: boolean | null) {
    this.rows.push([figure, measured, reference, target, verdict(ok)]);
  }

  /** A figure without a target. */
  info(figure: string, measured: string, reference = "", kind = "reported") {
    this.rows.push([figure, measured, reference, kind, "—"]);
  }

  set(key: string, value: unknown) {
    this.json[key] = value;
  }

  fail(section: string, e: unknown) {
    const msg = e instanceof Error ? e.message : String(e);
    this.failures.push(section);
    this.rows.push([
      `section ${section} FAILED`,
      msg.replace(/\s+/g, " ").slice(0, 300),
      "",
      "",
      "NO",
    ]);
    this.json[`failed_${section}`] = msg;
  }
}

/** Rounds every numeric field of a flat object for the JSON line. */
export function mapRound<T extends object>(o: T): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v as number)]));
}

export function printTable(report: Report, title: string): void {
  console.log(`\n${title}\n`);
  const header: Row = ["figure", "measured", "floor / reference", "target", "met"];
  const all = [header, ...report.rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: Row) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of report.rows) console.log(line(r));
  console.log("");
}
