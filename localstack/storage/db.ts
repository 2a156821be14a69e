// Every SQL statement the Storage stand-in makes. Each is ONE statement on the pool, never a
// client-side transaction (see ../db/standin_pool.ts). Statements whose authorisation RLS must
// decide run through storage_standin.exec_as (../db/bootstrap/20_storage.sql): as the caller's
// role with its JWT claims, as Supabase Storage runs them, with the role gone when the statement
// ends.
// Storage's own bookkeeping (bucket settings, is a version still referenced) runs as postgres.
import type postgres from "postgres";
import type { Caller } from "./caller.ts";
import { Errors, fromDbError } from "./errors.ts";
import { UUID_RE } from "./http.ts";

export interface ObjectRow {
  id: string;
  name: string;
  version: string;
  metadata: Record<string, unknown> | null;
  user_metadata: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  last_accessed_at: Date;
}

export interface BucketRow {
  id: string;
  public: boolean;
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
}

export const OBJECT_COLS = "id, name, version, metadata, user_metadata, created_at, updated_at, " +
  "last_accessed_at";
// file_size_limit as text: what postgres.js made of the bigint before, and clients saw.
export const BUCKET_COLS = "id, name, owner, public, type, file_size_limit::text as " +
  "file_size_limit, allowed_mime_types, created_at, updated_at";

/** Trusted SQL text (a whitelisted identifier or keyword), inlined as is. */
export class Raw {
  constructor(readonly text: string) {}
}
export const raw = (text: string): Raw => new Raw(text);

export type Value =
  | string
  | number
  | boolean
  | null
  | undefined
  | string[]
  | Record<string, unknown>
  | Raw;

/** A statement for exec_as: SQL text with `$1[n]` placeholders and the arguments as text. */
export interface Stmt {
  text: string;
  args: (string | null)[];
}

/** A Postgres array literal: how text[] travels without postgres.js's array types. */
export function arrayLiteral(xs: readonly (string | null)[]): string {
  const item = (x: string | null) => x === null ? "NULL" : `"${x.replace(/[\\"]/g, "\\$&")}"`;
  return `{${xs.map(item).join(",")}}`;
}

function asText(v: Exclude<Value, Raw>): string | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return arrayLiteral(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/**
 * Builds a Stmt: every value becomes `$1[n]`, a text the SQL casts where it needs another type
 * (`${owner}::uuid`, `${meta}::jsonb`, `${names}::text[]`); `raw()` values are inlined.
 */
export function stmt(strings: TemplateStringsArray, ...values: Value[]): Stmt {
  const args: (string | null)[] = [];
  let text = strings[0];
  values.forEach((v, i) => {
    if (v instanceof Raw) text += v.text;
    else text += `$1[${args.push(asText(v))}]`;
    text += strings[i + 1];
  });
  return { text, args };
}

const TIMESTAMPS = new Set(["created_at", "updated_at", "last_accessed_at"]);

/** jsonb rows carry timestamps as strings; callers (and clients) saw Dates before. */
function revive(row: Record<string, unknown>): Record<string, unknown> {
  for (const k of TIMESTAMPS) {
    if (typeof row[k] === "string") row[k] = new Date(row[k] as string);
  }
  return row;
}

export type Mode = "rows" | "exec" | "probe";

/**
 * Runs `s` as the caller (RLS decides) in one statement. `rows`: its rows; `exec`: DML with no
 * RETURNING (so an INSERT-only policy suffices); `probe`: would it be allowed (rolled back).
 * Postgres errors become Storage's (RLS refusal → 403 AccessDenied, duplicate → 409, …).
 */
export async function asCaller<T = Record<string, unknown>>(
  sql: postgres.Sql,
  caller: Caller,
  s: Stmt,
  opts: { kind?: "object" | "bucket"; mode?: Mode } = {},
): Promise<T[]> {
  try {
    const rows = await sql<{ r: Record<string, unknown> }[]>`
      select r from storage_standin.exec_as(
        ${caller.role}, ${sql.json(caller.claims as postgres.JSONValue)}, ${s.text},
        ${arrayLiteral(s.args)}::text[], ${opts.mode ?? "rows"}) as r`;
    return rows.map((x) => revive(x.r) as T);
  } catch (err) {
    throw fromDbError(err, opts.kind ?? "object");
  }
}

export async function bucketAsSuperuser(sql: postgres.Sql, id: string): Promise<BucketRow | null> {
  const rows = await sql<BucketRow[]>`
    select id, public, file_size_limit::text, to_jsonb(allowed_mime_types) as allowed_mime_types
    from storage.buckets where id = ${id}`;
  return rows[0] ?? null;
}

/** The object as the caller sees it, or (caller null: a public or signed URL) as it is. */
export async function findObject(
  sql: postgres.Sql,
  caller: Caller | null,
  bucket: string,
  name: string,
): Promise<ObjectRow | null> {
  if (!caller) {
    const rows = await sql<ObjectRow[]>`
      select ${sql.unsafe(OBJECT_COLS)} from storage.objects
      where bucket_id = ${bucket} and name = ${name}`;
    return rows[0] ?? null;
  }
  const rows = await asCaller<ObjectRow>(
    sql,
    caller,
    stmt`select ${raw(OBJECT_COLS)} from storage.objects
         where bucket_id = ${bucket} and name = ${name}`,
  );
  return rows[0] ?? null;
}

/**
 * Whether a row points at `version` (a fresh uuid per write). After a failed write its answer
 * says if the write committed anyway (a reset can lose the reply); unknown counts as yes, so a
 * file is never removed from under a row.
 */
export async function versionInUse(sql: postgres.Sql, version: string): Promise<boolean> {
  try {
    const rows = await sql`select 1 from storage.objects where version = ${version} limit 1`;
    return rows.length > 0;
  } catch {
    return true;
  }
}

export interface RowWrite {
  bucket: string;
  name: string;
  owner: string | null;
  metadata: Record<string, unknown>;
  userMetadata: Record<string, unknown> | null;
  version: string;
  upsert: boolean;
}

/**
 * The row write as one statement. A plain insert has no RETURNING, so an INSERT-only policy
 * suffices, as in Supabase (the id is made here). An upsert needs SELECT and UPDATE too; it
 * locks the row it replaces first (the count in the insert makes `old` run before it), so
 * concurrent overwrites of one key serialise and each learns exactly its predecessor.
 */
export function writeStmt(w: RowWrite, id = crypto.randomUUID()): Stmt {
  const owner = w.owner && UUID_RE.test(w.owner) ? w.owner : null;
  if (!w.upsert) {
    return stmt`
      insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata, user_metadata,
                                   version)
      values (${id}::uuid, ${w.bucket}, ${w.name}, ${owner}::uuid, ${w.owner}, ${w.metadata}::jsonb,
              ${w.userMetadata}::jsonb, ${w.version})`;
  }
  return stmt`
    with old as (
      select version from storage.objects where bucket_id = ${w.bucket} and name = ${w.name}
      for update
    ), w as (
      insert into storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata,
                                   version)
      select ${w.bucket}, ${w.name}, ${owner}::uuid, ${w.owner}, ${w.metadata}::jsonb,
             ${w.userMetadata}::jsonb, ${w.version}
      where (select count(*) from old) >= 0
      on conflict (bucket_id, name) do update set
        owner = excluded.owner, owner_id = excluded.owner_id, metadata = excluded.metadata,
        user_metadata = excluded.user_metadata, version = excluded.version,
        updated_at = now(), last_accessed_at = now()
      returning id
    )
    select w.id, (select version from old) as old_version from w`;
}

/** Writes the row as the caller; returns its id and the version it replaced (upsert). */
export async function writeRow(
  sql: postgres.Sql,
  caller: Caller,
  w: RowWrite,
): Promise<{ id: string; oldVersion: string | null }> {
  if (!w.upsert) {
    const id = crypto.randomUUID();
    await asCaller(sql, caller, writeStmt(w, id), { mode: "exec" });
    return { id, oldVersion: null };
  }
  const [row] = await asCaller<{ id: string; old_version: string | null }>(
    sql,
    caller,
    writeStmt(w),
  );
  if (!row) throw Errors.internal("upsert wrote no row");
  return { id: row.id, oldVersion: row.old_version };
}

/** Refuses (403, 409, 404 bucket) what the write would be refused, without writing. */
export async function probeWrite(sql: postgres.Sql, caller: Caller, w: RowWrite): Promise<void> {
  await asCaller(sql, caller, writeStmt(w), { mode: "probe" });
}
