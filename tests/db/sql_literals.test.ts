// Values inlined as literals (supabase/functions/_shared/sql_literals.ts) against postgres.js's
// own parameters, on the same server through the stack's transaction pooler with the functions'
// connection settings: for every kind of value db.ts sends, the server must read the same thing
// both ways, and a value written to break out of its quotes must stay data.
import assert from "node:assert/strict";
import postgres from "postgres";
import { poolOptions } from "../../supabase/functions/_shared/db.ts";
import {
  inlineStatement,
  jsonValue,
  literal,
} from "../../supabase/functions/_shared/sql_literals.ts";

const poolerUrl = () => {
  const v = Deno.env.get("STACK_POOLER_URL");
  if (!v) throw new Error("STACK_POOLER_URL is not set: run the tests through `npm test`");
  return v;
};

const STRINGS = [
  "",
  "plain",
  "it's",
  "''''",
  "back\\slash",
  "ends with a backslash\\",
  "\\'",
  "\\\\'';",
  "x'); select pg_sleep(5); --",
  "E'escaped'",
  "$$ dollar $$",
  "$tag$ x $tag$",
  '"double" quotes',
  "line\nbreak\r\ttab",
  "\\x00 \\u0000 \\n (as text)",
  "héllo wörld 🧊 \u2028 \u00a0",
  "ü".repeat(20_000),
];
const NUMBERS = [0, -1, 42, 2147483647, -2147483648, 1.5, -0.25, 1e21, Number.MAX_SAFE_INTEGER];
const JSONS = [
  {},
  [],
  { a: "it's", b: "back\\slash", c: [1, 2, { d: null }], e: "🧊", f: "\u0001 control" },
  ["'); drop table public.jobs; --", { "k'ey": "v\\'al" }],
  "a JSON string",
  17,
  null,
];

/** The value as the server reads it, through a parameter and through an inlined literal. */
async function bothWays(sql: postgres.Sql, cast: string, value: unknown, param: unknown) {
  const [viaParam] = await sql.unsafe(`select ($1::${cast})::text as v`, [
    param as postgres.ParameterOrJSON<never>,
  ]);
  const strings = Object.assign([`select (`, `::${cast})::text as v`], {
    raw: [`select (`, `::${cast})::text as v`],
  }) as TemplateStringsArray;
  const [viaLiteral] = await sql.unsafe(inlineStatement(strings, [value]), [], {
    simple: false,
  } as postgres.UnsafeQueryOptions);
  return { param: viaParam.v, literal: viaLiteral.v };
}

Deno.test("inlined literals: the server reads every value as it reads postgres.js's parameter", async () => {
  const sql = postgres(poolerUrl(), poolOptions(2));
  try {
    let compared = 0;
    for (const s of STRINGS) {
      for (const cast of ["text", "varchar"]) {
        const r = await bothWays(sql, cast, s, s);
        assert.equal(r.literal, r.param, `${cast} ${JSON.stringify(s).slice(0, 60)}`);
        assert.equal(r.literal, s);
        compared++;
      }
    }
    for (const n of NUMBERS) {
      for (
        const cast of Number.isInteger(n) && Math.abs(n) < 2 ** 31
          ? ["int", "numeric"]
          : ["numeric"]
      ) {
        const r = await bothWays(sql, cast, n, n);
        assert.equal(r.literal, r.param, `${cast} ${n}`);
        compared++;
      }
    }
    for (const b of [true, false]) {
      const r = await bothWays(sql, "boolean", b, b);
      assert.equal(r.literal, r.param, `boolean ${b}`);
      compared++;
    }
    const r64 = await bothWays(sql, "bigint", 9007199254740993n, "9007199254740993");
    assert.equal(r64.literal, r64.param);
    const when = new Date("2026-12-03T17:04:05.678Z");
    const rd = await bothWays(sql, "timestamptz", when, when);
    assert.equal(rd.literal, rd.param, "timestamptz");
    for (const j of JSONS) {
      const r = await bothWays(sql, "jsonb", jsonValue(j), sql.json(j as postgres.JSONValue));
      assert.equal(r.literal, r.param, `jsonb ${JSON.stringify(j)}`);
      // json keeps the text it was given; postgres.js's parameter arrives as jsonb (normalized):
      // the same JSON, spelled differently. (Every bff function takes jsonb.)
      const t = await bothWays(sql, "json", jsonValue(j), sql.json(j as postgres.JSONValue));
      assert.deepEqual(JSON.parse(t.literal), JSON.parse(t.param), `json ${JSON.stringify(j)}`);
      compared += 2;
    }
    const rn = await bothWays(sql, "text", null, null);
    assert.equal(rn.literal, null);
    assert.equal(rn.param, null);
    assert.ok(compared > 60, `${compared} values compared`);
  } finally {
    await sql.end({ timeout: 5 });
  }
});

Deno.test("inlined literals: refused where postgres.js or the server refuses the value", async () => {
  const sql = postgres(poolerUrl(), poolOptions(2));
  try {
    // No Postgres text holds a NUL: the server refuses the parameter, the literal is never built.
    await assert.rejects(sql.unsafe("select $1::text", ["a\0b"]));
    assert.throws(() => literal("a\0b"), RangeError);
    assert.throws(() => literal(undefined), TypeError);
    assert.throws(() => literal(NaN), RangeError);
    assert.throws(() => literal({ an: "object" }), TypeError);
    assert.throws(() => jsonValue(undefined), TypeError);
    // A statement of two commands is refused (the extended protocol), whatever the text says.
    await assert.rejects(
      sql.unsafe("select 1; select 2", [], { simple: false } as postgres.UnsafeQueryOptions),
      /multiple commands|cannot insert multiple/,
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
});
