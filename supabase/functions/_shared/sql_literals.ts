// One round trip per statement behind the transaction pooler. With `prepare: false` (required
// there), postgres.js sends every statement that has parameters as Parse + Describe + Flush,
// waits for the parameter types, then sends Bind + Execute: two round trips, each one a trip to
// the pooler on the platform. A statement whose values are inlined as quoted literals has no
// parameters, and postgres.js sends it as one unnamed Parse + Bind + Execute.
//
// A quoted literal has type `unknown`, exactly like a parameter sent without a type (which is how
// postgres.js sends strings and numbers), so the server resolves it the same way: function
// arguments, casts, comparisons. Values are written as postgres.js's own serializers write them
// (numbers with '' + x, booleans t/f, JSON with JSON.stringify, dates in ISO form). Quoting uses
// the E'' form with every backslash and quote doubled, which reads the same whatever
// standard_conforming_strings is; a NUL, which no Postgres text can hold, is refused. Statements
// go through the extended protocol, which refuses more than one command per string.
// tests/db/sql_literals.test.ts holds every kind of value to what postgres.js's parameters make of
// it on the same server.
import type postgres from "postgres";

/** A JSON value for a json/jsonb argument (what `sql.json` is for parameters). */
export class JsonValue {
  constructor(readonly text: string) {}
}

/** null is SQL NULL, as `sql.json(null)` sends it; a value JSON cannot hold is refused. */
export function jsonValue(v: unknown): JsonValue | null {
  if (v === null) return null;
  const text = JSON.stringify(v);
  if (text === undefined) throw new TypeError(`no JSON for a value of type ${typeof v}`);
  return new JsonValue(text);
}

function quote(s: string): string {
  if (s.includes("\0")) throw new RangeError("SQL text cannot hold a NUL character");
  // A leading space, so the E prefix never joins a word of the statement before it.
  return ` E'${s.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** One value as a quoted SQL literal of type unknown (or NULL). */
export function literal(v: unknown): string {
  if (v === null) return " NULL";
  if (v instanceof JsonValue) return quote(v.text);
  if (v instanceof Date) return quote(v.toISOString());
  switch (typeof v) {
    case "string":
      return quote(v);
    case "number":
      if (!Number.isFinite(v)) throw new RangeError(`not a finite number: ${v}`);
      return quote(String(v));
    case "bigint":
      return quote(v.toString());
    case "boolean":
      return v ? " E't'" : " E'f'";
  }
  throw new TypeError(`no SQL literal for a value of type ${typeof v}`);
}

/** The statement of a tagged template with its values inlined as literals. */
export function inlineStatement(strings: TemplateStringsArray, values: unknown[]): string {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += literal(values[i]) + strings[i + 1];
  return out;
}

/**
 * A tagged template like postgres.js's own `sql`, with the values inlined: one round trip. The
 * extended protocol (`simple: false`) runs one command per statement.
 */
export function inlined<Types extends Record<string, unknown>>(sql: postgres.Sql<Types>) {
  return <T extends postgres.Row[] = postgres.Row[]>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ) => sql.unsafe<T>(inlineStatement(strings, values), [], { simple: false });
}
