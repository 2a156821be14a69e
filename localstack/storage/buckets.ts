// `/bucket/…`: list, get, create, update, empty and delete buckets, each as the caller, so the
// storage.buckets policies (none: only the service role) decide.
import { authenticate } from "./caller.ts";
import type { StorageContext } from "./context.ts";
import { asCaller, BUCKET_COLS, raw, stmt } from "./db.ts";
import { Errors } from "./errors.ts";
import { bodyOf, BUCKET_NAME_RE, json, parseSize, UUID_RE } from "./http.ts";

const BUCKET_SORT_COLUMNS = new Set(["id", "name", "created_at", "updated_at"]);

function limitsOf(body: Record<string, unknown>) {
  return {
    size: parseSize(body.file_size_limit),
    mimes: Array.isArray(body.allowed_mime_types) ? body.allowed_mime_types.map(String) : null,
  };
}

export async function bucketRoutes(
  ctx: StorageContext,
  req: Request,
  url: URL,
  rest: string[],
): Promise<Response> {
  const { sql } = ctx;
  const caller = await authenticate(ctx.keys, req);
  const bucket = { kind: "bucket" } as const;
  const id = rest[0] !== undefined ? decodeURIComponent(rest[0]) : undefined;
  if (req.method === "GET" && id === undefined) {
    const limit = Number(url.searchParams.get("limit") ?? 0) || null;
    const offset = Number(url.searchParams.get("offset") ?? 0) || 0;
    const sc = url.searchParams.get("sortColumn") ?? "name";
    const col = BUCKET_SORT_COLUMNS.has(sc) ? sc : "name";
    const desc = (url.searchParams.get("sortOrder") ?? "asc").toLowerCase() === "desc";
    const search = url.searchParams.get("search") ?? "";
    const pattern = "%" + search.replace(/[\\%_]/g, "\\$&") + "%";
    const rows = await asCaller(
      sql,
      caller,
      stmt`select ${raw(BUCKET_COLS)} from storage.buckets
           where (${search} = '' or name ilike ${pattern})
           order by ${raw(col)} ${raw(desc ? "desc" : "asc")}
           limit ${limit}::int offset ${offset}::int`,
      bucket,
    );
    return json(rows);
  }
  if (req.method === "GET" && rest.length === 1) {
    const rows = await asCaller(
      sql,
      caller,
      stmt`select ${raw(BUCKET_COLS)} from storage.buckets where id = ${id}`,
      bucket,
    );
    if (!rows[0]) throw Errors.noSuchBucket();
    return json(rows[0]);
  }
  if (req.method === "POST" && id === undefined) {
    const body = await bodyOf(req);
    const name = String(body.name ?? body.id ?? "");
    const bid = String(body.id ?? name);
    if (!name || !BUCKET_NAME_RE.test(name) || name.length > 100) {
      throw Errors.invalidBucketName();
    }
    const { size, mimes } = limitsOf(body);
    const owner = caller.sub && UUID_RE.test(caller.sub) ? caller.sub : null;
    const type = typeof body.type === "string" ? body.type : "STANDARD";
    await asCaller(
      sql,
      caller,
      stmt`insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit,
                                        allowed_mime_types, type)
           values (${bid}, ${name}, ${owner}::uuid, ${caller.sub}, ${body.public === true}::boolean,
                   ${size}::bigint, ${mimes}::text[], ${type})`,
      { ...bucket, mode: "exec" },
    );
    return json({ name });
  }
  if (req.method === "PUT" && rest.length === 1) {
    const body = await bodyOf(req);
    const { size, mimes } = limitsOf(body);
    const rows = await asCaller(
      sql,
      caller,
      stmt`update storage.buckets set public = ${body.public === true}::boolean,
             file_size_limit = ${size}::bigint, allowed_mime_types = ${mimes}::text[],
             updated_at = now()
           where id = ${id} returning id`,
      bucket,
    );
    if (!rows[0]) throw Errors.noSuchBucket();
    return json({ message: "Successfully updated" });
  }
  if (req.method === "POST" && rest.length === 2 && rest[1] === "empty") {
    const deleted = await asCaller<{ version: string | null }>(
      sql,
      caller,
      stmt`delete from storage.objects where bucket_id = ${id} returning version`,
    );
    for (const d of deleted) if (d.version) await ctx.blobs.remove(ctx.blobs.pathOf(d.version));
    return json({ message: "Successfully emptied" });
  }
  if (req.method === "DELETE" && rest.length === 1) {
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from storage.objects where bucket_id = ${id!}`;
    if (n > 0) throw Errors.bucketNotEmpty();
    const rows = await asCaller(
      sql,
      caller,
      stmt`delete from storage.buckets where id = ${id} returning id`,
      bucket,
    );
    if (!rows[0]) throw Errors.noSuchBucket();
    return json({ message: "Successfully deleted" });
  }
  throw Errors.notFound();
}
