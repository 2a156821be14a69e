// Reading objects: download (whole or by range, conditional), info, and list. The caller's
// SELECT policies decide what exists for them; a null caller is a public or signed URL.
import { rangeStream } from "./blobs.ts";
import type { Caller } from "./caller.ts";
import type { StorageContext } from "./context.ts";
import { asCaller, findObject, type ObjectRow, raw, stmt } from "./db.ts";
import { Errors } from "./errors.ts";
import { json, parseRange } from "./http.ts";

const SORT_COLUMNS = new Set(["name", "updated_at", "created_at", "last_accessed_at"]);

export async function serveObject(
  ctx: StorageContext,
  req: Request,
  url: URL,
  caller: Caller | null,
  bucket: string,
  name: string,
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  let row: ObjectRow | null = null;
  let file: Deno.FsFile | null = null;
  // A concurrent overwrite may unlink the version we just looked up: look again once.
  for (let attempt = 0; attempt < 2 && !file; attempt++) {
    row = await findObject(ctx.sql, caller, bucket, name);
    if (!row) throw Errors.noSuchKey();
    file = await ctx.blobs.open(row.version);
  }
  if (!row || !file) throw Errors.noSuchKey();
  const size = (await file.stat()).size;
  const meta = row.metadata ?? {};
  const etag = String(meta.eTag ?? `"${row.version}"`);
  const lastModified = new Date(String(meta.lastModified ?? row.updated_at)).toUTCString();
  const headers: Record<string, string> = {
    "content-type": String(meta.mimetype ?? "application/octet-stream"),
    "cache-control": String(meta.cacheControl ?? "no-cache"),
    etag,
    "last-modified": lastModified,
    "accept-ranges": "bytes",
    ...extraHeaders,
  };
  if (meta.contentEncoding) headers["content-encoding"] = String(meta.contentEncoding);
  const download = url.searchParams.get("download");
  if (download !== null) {
    const fname = download || name.split("/").pop() || "download";
    headers["content-disposition"] = `attachment; filename=${
      encodeURIComponent(fname)
    }; filename*=UTF-8''${encodeURIComponent(fname)}`;
  }
  const inm = req.headers.get("if-none-match");
  if (inm && inm.split(",").map((s) => s.trim()).includes(etag)) {
    file.close();
    return new Response(null, { status: 304, headers });
  }
  let range: [number, number] | null;
  try {
    range = parseRange(req.headers.get("range"), size);
  } catch (err) {
    file.close();
    throw err;
  }
  const [start, end] = range ?? [0, size - 1];
  const length = size === 0 ? 0 : end - start + 1;
  headers["content-length"] = String(length);
  if (range) headers["content-range"] = `bytes ${start}-${end}/${size}`;
  const status = range ? 206 : 200;
  if (req.method === "HEAD") {
    file.close();
    return new Response(null, { status, headers });
  }
  return new Response(rangeStream(file, start, length), { status, headers });
}

export async function objectInfo(
  ctx: StorageContext,
  caller: Caller | null,
  bucket: string,
  name: string,
): Promise<Response> {
  const row = await findObject(ctx.sql, caller, bucket, name);
  if (!row) throw Errors.noSuchKey();
  const m = row.metadata ?? {};
  return json({
    id: row.id,
    name: row.name,
    version: row.version,
    bucket_id: bucket,
    size: m.size ?? null,
    content_type: m.mimetype ?? null,
    cache_control: m.cacheControl ?? null,
    etag: m.eTag ?? null,
    metadata: row.user_metadata ?? {},
    last_modified: m.lastModified ?? row.updated_at,
    created_at: row.created_at,
    updated_at: row.updated_at,
  });
}

/** One level of a "folder": sub-folders (id null) and files, as storage-js lists them. */
export async function list(
  ctx: StorageContext,
  caller: Caller,
  bucket: string,
  body: Record<string, unknown>,
): Promise<Response> {
  let prefix = typeof body.prefix === "string" ? body.prefix : "";
  if (prefix.length > 0 && !prefix.endsWith("/")) prefix += "/";
  const limit = Math.min(Math.max(Number(body.limit ?? 100) || 100, 1), 1000);
  const offset = Math.max(Number(body.offset ?? 0) || 0, 0);
  const search = typeof body.search === "string" ? body.search : "";
  const sortBy = (body.sortBy ?? {}) as { column?: string; order?: string };
  const column = SORT_COLUMNS.has(sortBy.column ?? "") ? sortBy.column! : "name";
  const order = String(sortBy.order ?? "asc").toLowerCase() === "desc" ? "desc" : "asc";
  const pattern = search.replace(/[\\%_]/g, "\\$&") + "%";
  const rows = await asCaller(
    ctx.sql,
    caller,
    stmt`
      with o as (
        select substr(name, ${prefix.length + 1}::int) as rest, id, updated_at, created_at,
               last_accessed_at, metadata
        from storage.objects
        where bucket_id = ${bucket} and starts_with(name, ${prefix})
      ), e as (
        select split_part(rest, '/', 1) as name, strpos(rest, '/') > 0 as is_folder, id,
               updated_at, created_at, last_accessed_at, metadata
        from o
      ), entries as (
        select name, null::uuid as id, null::timestamptz as updated_at,
               null::timestamptz as created_at, null::timestamptz as last_accessed_at,
               null::jsonb as metadata
        from e where is_folder group by name
        union all
        select name, id, updated_at, created_at, last_accessed_at, metadata
        from e where not is_folder
      )
      select * from entries
      where name <> '' and (${search} = '' or name ilike ${pattern})
      order by ${raw(column)} ${raw(order)} nulls first, name collate "C"
      limit ${limit}::int offset ${offset}::int`,
  );
  return json(rows);
}
