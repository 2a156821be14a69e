// The OpenAPI 3.1 document of the BFF, assembled from the operation table (operations.ts), the
// zod schemas (components.ts) and the HTTP parts (http.ts). Deterministic: the same code gives
// the same bytes, so tests/unit/openapi.test.ts can tell when openapi.json is stale.
import { ledgerQuery } from "../../supabase/functions/_shared/handlers/credits.ts";
import { MAX_JSON_BODY_BYTES } from "../../supabase/functions/_shared/http.ts";
import { componentSchemas, inline, type JsonSchema, ref } from "./components.ts";
import { examplesOf, REQUEST_EXAMPLES, RESPONSE_EXAMPLES } from "./examples.ts";
import {
  errorResponse,
  errorResponses,
  headerComponents,
  PARAMETERS,
  responseHeaders,
  SECURITY_SCHEMES,
  SERVICE,
  USER,
} from "./http.ts";
import { ALLOWED, type Method, type Operation, OPERATIONS, UNROUTED } from "./operations.ts";

const DESCRIPTION = `The MakeIt3D backend-for-frontend: Supabase Edge Functions that start AI
jobs (OpenAI images, Tripo 3D models), drive them in the background and store every output in
Supabase Storage.

- Sign users in with Supabase Auth and send their access token as \`Authorization: Bearer\`.
  The project's secret key is for the service routes only and never belongs in an app.
- Request bodies are JSON (\`Content-Type: application/json\`, at most ${MAX_JSON_BODY_BYTES}
  bytes); unknown fields are refused.
- Every error has the one shape \`{ "error": { "code", "message", "details"? } }\`; each response
  lists the codes it can carry.
- A method a path does not serve answers 405 with \`Allow\`; the responses of those methods are
  under each path's \`x-other-methods\`.
- The platform's gateway answers some requests before any function runs, in its own shape
  (\`{ "message" }\` or \`{ "code", "message" }\`): an unknown API key (401), an unknown function
  (404), a function that failed to start (503). Those are outside this document.

Generated from the zod schemas the functions validate with (\`npm run openapi\`); do not edit
by hand.`;

function parameters(op: Operation): JsonSchema[] {
  const list: JsonSchema[] = (op.parameters ?? []).map((p) => ({
    $ref: `#/components/parameters/${p}`,
  }));
  if (op.operationId === "getCredits") {
    // The statement's query, straight from the schema the handler parses it with.
    list.push(
      {
        name: "limit",
        in: "query",
        required: false,
        description: "Ledger entries per page.",
        schema: inline(ledgerQuery.shape.limit, "input"),
      },
      {
        name: "before",
        in: "query",
        required: false,
        description: "The next_before of the previous page.",
        schema: inline(ledgerQuery.shape.before, "input"),
      },
    );
  }
  return list;
}

function operation(op: Operation): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const s of op.success) {
    responses[String(s.status)] = {
      description: s.description,
      headers: responseHeaders(s.headers),
      content: {
        "application/json": {
          schema: ref(s.schema),
          examples: examplesOf(s.schema, RESPONSE_EXAMPLES),
        },
      },
    };
  }
  Object.assign(responses, errorResponses(op.errors));
  const params = parameters(op);
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    security: op.security === "user" ? USER : SERVICE,
    ...(params.length ? { parameters: params } : {}),
    ...(op.body
      ? {
        requestBody: {
          required: true,
          content: {
            "application/json": {
              schema: ref(op.body),
              examples: examplesOf(op.body, REQUEST_EXAMPLES),
            },
          },
        },
      }
      : {}),
    responses,
  };
}

const METHODS: Method[] = ["get", "post", "put", "delete"];

/** The answers of the methods a path does not serve (405, after the auth check where first). */
function otherMethods(path: string, ops: Operation[]): JsonSchema | undefined {
  if (UNROUTED[path]) {
    return {
      methods: METHODS.filter((m) => !UNROUTED[path].includes(m)).map((m) => m.toUpperCase()),
      responses: {
        "401": errorResponse(401, ["unauthorized"]),
        "404": errorResponse(404, ["not_found"]),
      },
    };
  }
  const allowed = ALLOWED[path];
  if (!allowed) return undefined;
  // task-status and process-jobs check the caller before routing; credits routes first.
  const authFirst = ops.every((o) => !o.path.startsWith("/functions/v1/credits"));
  const responses: Record<string, JsonSchema> = {
    "405": errorResponse(405, ["method_not_allowed"]),
  };
  if (authFirst) responses["401"] = errorResponse(401, ["unauthorized"]);
  return {
    methods: METHODS.filter((m) => !allowed.includes(m)).map((m) => m.toUpperCase()),
    allow: allowed.map((m) => m.toUpperCase()).join(", "),
    responses,
  };
}

export function buildDocument(): JsonSchema {
  const paths: Record<string, JsonSchema> = {};
  const byPath = new Map<string, Operation[]>();
  for (const op of OPERATIONS) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op]);
  for (const [path, ops] of byPath) {
    const item: JsonSchema = {};
    for (const op of ops) item[op.method] = operation(op);
    const other = otherMethods(path, ops);
    if (other) item["x-other-methods"] = other;
    paths[path] = item;
  }
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: { title: "MakeIt3D BFF", version: "1.0.0", description: DESCRIPTION },
    servers: [
      { url: "http://127.0.0.1:54321", description: "The local stack (`npm run dev`)" },
      {
        url: "https://{project_ref}.supabase.co",
        description: "A hosted Supabase project",
        variables: { project_ref: { default: "your-project-ref" } },
      },
    ],
    tags: [
      { name: "generation", description: "Start AI jobs (each answers 202 and runs later)." },
      { name: "jobs", description: "Read and cancel your jobs." },
      { name: "credits", description: "Balances, prices and grants." },
      { name: "operators", description: "For users marked as operators in app_metadata." },
      { name: "service", description: "For the project's own services only." },
    ],
    paths,
    components: {
      schemas: componentSchemas(),
      parameters: PARAMETERS,
      headers: headerComponents(),
      securitySchemes: SECURITY_SCHEMES,
    },
  };
}

/** The file's bytes: two-space JSON and a final newline, as `deno fmt` leaves it. */
export function renderDocument(): string {
  return `${JSON.stringify(buildDocument(), null, 2)}\n`;
}
