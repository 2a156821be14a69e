// The contract test (SPEC §10): every endpoint of the running stack, its successes and each
// error class that can be provoked from outside, every answer validated against openapi.json
// with ajv (tests/_helpers/openapi.ts): status described, required headers present and valid,
// body valid. What cannot be provoked without breaking a service (500, 502, 503) is listed at
// the end; the last tests prove the check refuses what the document does not describe.
//
// The endpoints' tests are in endpoints/ and registered here, in this order, by importing them:
// deno test runs each *.test.ts file in an isolate of its own, and these tests must share one —
// one World (_world.ts) and one ledger of the answers seen (_driver.ts), which the last two tests
// read.
import "./endpoints/generation.ts";
import "./endpoints/other_functions.ts";
import assert from "node:assert/strict";
import { it } from "../_helpers/app.ts";
import { Contract, ContractError } from "../_helpers/openapi.ts";
import { contract, observed, settle } from "./_driver.ts";
import { type Json, setup } from "./_world.ts";

it("contract: the check refuses answers the document does not describe", async () => {
  await setup();
  const accepted = observed.find((o) => o.status === 202 && o.path.includes("text-to-model"));
  const status = observed.find((o) => o.status === 200 && o.path.includes("task-status"));
  assert.ok(accepted && status, "a 202 and a task-status 200 were seen");
  const mutate = (change: (doc: Record<string, Json>) => void) => {
    const doc = structuredClone(contract.doc);
    change(doc);
    return new Contract(doc);
  };
  const post = (d: Record<string, Json>) => d.paths["/functions/v1/generate-text-to-model"].post;
  const cases: [string, Contract, typeof accepted][] = [
    ["an undescribed status", mutate((d) => delete post(d).responses["202"]), accepted],
    [
      "an undescribed method",
      mutate((d) => {
        delete d.paths["/functions/v1/generate-text-to-model"].post;
      }),
      accepted,
    ],
    [
      "a missing required header",
      mutate((d) => {
        post(d).responses["202"].headers["X-Extra"] = {
          $ref: "#/components/headers/Location",
          required: true,
        };
      }),
      accepted,
    ],
    [
      "a header its schema refuses",
      mutate((d) => {
        d.components.headers.Location.schema = { type: "string", pattern: "^https://" };
      }),
      accepted,
    ],
    [
      "a field the schema does not have",
      mutate((d) => {
        delete d.components.schemas.TaskStatus.properties.cost;
        d.components.schemas.TaskStatus.required = d.components.schemas.TaskStatus.required
          .filter((k: string) => k !== "cost");
      }),
      status,
    ],
    [
      "a value outside the schema",
      mutate((d) => {
        d.components.schemas.Accepted.properties.status = { const: "complete" };
      }),
      accepted,
    ],
  ];
  for (const [what, c, o] of cases) {
    contract.assertions++;
    assert.throws(() => c.check(o), ContractError, what);
  }
  // The real document accepts both.
  contract.check(accepted);
  contract.check(status);
});

// Answers that cannot be provoked from outside without breaking a service: a server fault
// (500), Storage failing while an input is read (502/503) or a download link is signed (502),
// and a convert input readable in `models` but not in Storage (403).
const UNPROVOKED = new Set([
  ...["500", "502", "503"],
  "generateConvertModel 403",
]);

it("contract: every operation and every described status was exercised", async () => {
  await setup();
  const missing: string[] = [];
  for (const [path, item] of Object.entries<Record<string, Json>>(contract.doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) {
      const key = method === "x-other-methods" ? null : op.operationId;
      const statuses = Object.keys(method === "x-other-methods" ? op.responses : op.responses);
      const seen = key ? contract.seen.get(key) ?? new Set() : new Set(
        [...contract.seen.entries()].filter(([k]) => k.startsWith(`${path} `))
          .flatMap(([, s]) => [...s]),
      );
      for (const s of statuses) {
        if (UNPROVOKED.has(s) || UNPROVOKED.has(`${key} ${s}`)) continue;
        if (!seen.has(Number(s))) missing.push(`${key ?? `${path} (other methods)`} ${s}`);
      }
    }
  }
  // The next test files find no job of this one still running.
  await settle();
  contract.assertions++;
  assert.deepEqual(missing, []);
  console.log(`contract: ${contract.assertions} assertions, ${observed.length} answers checked`);
});
