// Checks real responses against openapi.json with a standard validator (ajv, JSON Schema
// 2020-12, the dialect OpenAPI 3.1 uses). A response the document does not describe (a path,
// method or status it does not list, a required header missing, a body its schema refuses) is
// a failure. Every check counts as one assertion.
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { ValidateFunction } from "ajv";

// deno-lint-ignore no-explicit-any
type Json = any;

const ROOT_ID = "urn:makeit3d:openapi";
const ROOT = new URL("../../", import.meta.url);

export async function loadDocument(): Promise<Json> {
  return JSON.parse(await Deno.readTextFile(new URL("openapi.json", ROOT)));
}

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

export interface Observed {
  method: string;
  /** The URL path as sent, e.g. /functions/v1/task-status/<uuid>. */
  path: string;
  status: number;
  headers: Headers;
  /** The body text as received. */
  text: string;
}

export class ContractError extends Error {}

export class Contract {
  readonly ajv: Ajv2020;
  assertions = 0;
  /** operationId (or "<path> <METHOD>" for other methods) → statuses seen. */
  readonly seen = new Map<string, Set<number>>();
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(readonly doc: Json) {
    // strictRequired off: a record of every job kind (Prices) lists required keys through
    // propertyNames, not properties, which is valid JSON Schema.
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    // deno-lint-ignore no-explicit-any
    const addFormats = addFormatsModule as any as (a: Ajv2020) => void;
    addFormats(this.ajv);
    // The document is the root every $ref (#/components/...) resolves in; only the schemas
    // inside it are compiled, so its other members are plain annotations here.
    this.ajv.addVocabulary(["openapi", "info", "servers", "tags", "paths", "components"]);
    this.ajv.addVocabulary(["jsonSchemaDialect"]);
    this.ajv.addSchema({ ...doc, $id: ROOT_ID });
  }

  /** The validator of the schema at `ptr` (a JSON pointer into the document). */
  validator(ptr: string): ValidateFunction {
    let v = this.cache.get(ptr);
    if (!v) {
      v = this.ajv.compile({ $ref: `${ROOT_ID}#/${ptr}` });
      this.cache.set(ptr, v);
    }
    return v;
  }

  /** The document's path template matching a concrete path. */
  template(path: string): string | undefined {
    return Object.keys(this.doc.paths).find((t) => {
      const re = new RegExp(`^${t.replace(/\{[^}]+\}/g, "[^/]+")}$`);
      return re.test(path);
    });
  }

  private fail(what: string, o: Observed, detail: string): never {
    throw new ContractError(
      `${o.method} ${o.path} → ${o.status}: ${what}: ${detail}\nbody: ${o.text.slice(0, 600)}`,
    );
  }

  /** Validates one real response; throws ContractError when the document does not describe it. */
  check(o: Observed): void {
    const path = o.path.split("?")[0];
    const t = this.template(path);
    this.assertions++;
    if (!t) this.fail("path", o, "not in the document");
    const item = this.doc.paths[t];
    const method = o.method.toLowerCase();
    let base: string[];
    let key: string;
    if (item[method]) {
      base = ["paths", t, method, "responses"];
      key = item[method].operationId;
    } else {
      const other = item["x-other-methods"];
      if (!other || !other.methods.includes(o.method.toUpperCase())) {
        this.fail("method", o, "neither an operation nor listed in x-other-methods");
      }
      base = ["paths", t, "x-other-methods", "responses"];
      key = `${t} ${o.method.toUpperCase()}`;
    }
    let responses = item[method]?.responses ?? item["x-other-methods"].responses;
    const status = String(o.status);
    this.assertions++;
    if (!responses[status]) {
      this.fail("status", o, `not described (described: ${Object.keys(responses).join(", ")})`);
    }
    responses = responses[status];
    const seen = this.seen.get(key) ?? new Set<number>();
    seen.add(o.status);
    this.seen.set(key, seen);

    for (const [name, h] of Object.entries<Json>(responses.headers ?? {})) {
      const component = h.$ref.split("/").pop();
      const value = o.headers.get(name);
      this.assertions++;
      if (value === null) {
        if (h.required) this.fail("header", o, `${name} is required and missing`);
        continue;
      }
      const v = this.validator(pointer("components", "headers", component, "schema"));
      if (!v(value)) this.fail("header", o, `${name}: ${JSON.stringify(value)} ${this.errors(v)}`);
    }

    const content = responses.content?.["application/json"];
    this.assertions++;
    if (!content) {
      if (o.text !== "") this.fail("body", o, "a body where the document describes none");
      return;
    }
    const type = o.headers.get("content-type") ?? "";
    if (!/^application\/json\b/i.test(type)) this.fail("content-type", o, type || "(none)");
    let body: unknown;
    try {
      body = JSON.parse(o.text);
    } catch {
      this.fail("body", o, "not JSON");
    }
    this.assertions++;
    const v = this.validator(pointer(...base, status, "content", "application/json", "schema"));
    if (!v(body)) this.fail("body", o, this.errors(v));
  }

  private errors(v: ValidateFunction): string {
    return this.ajv.errorsText(v.errors, { separator: "; " });
  }
}
