// openapi.json is generated (npm run openapi) from the zod schemas: it must be what the
// generator writes now, its examples must pass the schemas they illustrate, every function must
// be in it, and every schema in it must compile in a standard validator.
import assert from "node:assert/strict";
import { REQUESTS, RESPONSES } from "../../tools/openapi/components.ts";
import { REQUEST_EXAMPLES, RESPONSE_EXAMPLES } from "../../tools/openapi/examples.ts";
import { renderDocument } from "../../tools/openapi/document.ts";
import { Contract, loadDocument } from "../_helpers/openapi.ts";

const ROOT = new URL("../../", import.meta.url);
// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test("openapi.json is what `npm run openapi` writes from the schemas now", async () => {
  const checkedIn = await Deno.readTextFile(new URL("openapi.json", ROOT));
  assert.ok(
    checkedIn === renderDocument(),
    "openapi.json is stale: run `npm run openapi` and commit the file",
  );
});

Deno.test("every example in the document passes the zod schema it illustrates", () => {
  let n = 0;
  for (const [table, examples] of [[REQUESTS, REQUEST_EXAMPLES], [RESPONSES, RESPONSE_EXAMPLES]]) {
    for (const [name, byName] of Object.entries(examples)) {
      const named = (table as Record<string, { schema: { safeParse(v: unknown): unknown } }>)[name];
      assert.ok(named, `${name} is a component`);
      for (const [label, value] of Object.entries(byName ?? {})) {
        const r = named.schema.safeParse(value) as { success: boolean; error?: unknown };
        assert.ok(r.success, `${name}.${label}: ${JSON.stringify(r.error)}`);
        n++;
      }
    }
  }
  assert.ok(n >= 15, `examples checked: ${n}`);
});

Deno.test("every function is in the document, every operation has security and an error for 401", async () => {
  const doc = await loadDocument();
  for await (const e of Deno.readDir(new URL("supabase/functions/", ROOT))) {
    if (!e.isDirectory || e.name.startsWith("_")) continue;
    const paths = Object.keys(doc.paths).filter((p) =>
      p === `/functions/v1/${e.name}` || p.startsWith(`/functions/v1/${e.name}/`)
    );
    assert.ok(paths.length > 0, `${e.name} has no path in openapi.json`);
  }
  const ids = new Set<string>();
  for (const [path, item] of Object.entries<Record<string, { [k: string]: unknown }>>(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method.startsWith("x-")) continue;
      assert.ok(!ids.has(op.operationId as string), `${op.operationId} is unique`);
      ids.add(op.operationId as string);
      assert.ok(Array.isArray(op.security) && op.security.length > 0, `${method} ${path}`);
      const responses = op.responses as Record<string, unknown>;
      assert.ok(responses["401"] && responses["500"], `${method} ${path} lists 401 and 500`);
    }
  }
});

Deno.test("every response and header schema compiles in ajv (2020-12) and its $refs resolve", async () => {
  const doc = await loadDocument();
  const contract = new Contract(doc);
  let n = 0;
  const enc = (s: string) => s.replaceAll("~", "~0").replaceAll("/", "~1");
  for (
    const [path, item] of Object.entries<
      Record<string, { responses: Record<string, { content?: unknown }> }>
    >(doc.paths)
  ) {
    for (const [method, op] of Object.entries(item)) {
      for (const [status, r] of Object.entries(op.responses)) {
        if (!r.content) continue;
        contract.validator(
          `paths/${enc(path)}/${method}/responses/${status}/content/application~1json/schema`,
        );
        n++;
      }
    }
  }
  for (const name of Object.keys(doc.components.headers)) {
    contract.validator(`components/headers/${name}/schema`);
  }
  for (const name of Object.keys(doc.components.schemas)) {
    contract.validator(`components/schemas/${name}`);
  }
  assert.ok(n > 80, `response schemas compiled: ${n}`);

  // Every example in the document passes its own JSON Schema too (zod and ajv agree).
  let examples = 0;
  for (const [path, item] of Object.entries<Record<string, Json>>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      if (method.startsWith("x-")) continue;
      const bodies: [string, Json][] = [
        ["requestBody", op.requestBody?.content?.["application/json"]],
        ...Object.entries<Json>(op.responses).map(([s, r]): [string, Json] => [
          `responses/${s}`,
          r.content?.["application/json"],
        ]),
      ];
      for (const [at, media] of bodies) {
        if (!media?.examples) continue;
        const v = contract.validator(
          `paths/${enc(path)}/${method}/${at}/content/application~1json/schema`,
        );
        for (const [label, e] of Object.entries<Json>(media.examples)) {
          assert.ok(v(e.value), `${method} ${path} ${at} ${label}: ${JSON.stringify(v.errors)}`);
          examples++;
        }
      }
    }
  }
  assert.ok(examples > 100, `examples validated: ${examples}`);
});
