// Local stand-in for Supabase Storage: the REST subset storage-js calls, with Supabase's error
// shapes. Authorisation is never decided here: every object/bucket statement runs inside a
// transaction as the caller's Postgres role with the caller's JWT claims set, exactly as the
// real Storage server does, so the RLS policies on storage.objects / storage.buckets decide.
import type postgres from "postgres";
import * as jose from "jose";
import { type StackKeys, verifyToken } from "../keys.ts";
import { BlobStore, rangeStream } from "./blobs.ts";
import { Errors, fromDbError, StorageError } from "./errors.ts";
import { boundaryOf, readMultipart } from "./multipart.ts";

export interface StorageHandlerOptions {
  /** Pool connected as the superuser `postgres` to the stack database. */
  sql: postgres.Sql;
  keys: StackKeys;
  /** Per-run folder for object bytes. */
  dataDir: string;
  /** e.g. http://127.0.0.1:54321 */
  publicUrl: string;
  /** Global upload limit in bytes (default 5 GiB, the standard-upload maximum). */
  fileSizeLimit?: number;
  /** Lifetime of signed upload URLs in seconds (default 7200, as Supabase). */
  signedUploadUrlExpiry?: number;
}

type Role = "anon" | "authenticated" | "service_role";
interface Caller {
  role: Role;
  claims: jose.JWTPayload;
  sub: string | null;
}
interface ObjectRow {
  id: string;
  name: string;
  version: string;
  metadata: Record<string, unknown> | null;
  user_metadata: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  last_accessed_at: Date;
}
interface BucketRow {
  id: string;
  public: boolean;
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
}

const ROLES = new Set<string>(["anon", "authenticated", "service_role"]);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BUCKET_NAME_RE = /^(\w|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$/;
const SORT_COLUMNS = new Set(["name", "updated_at", "created_at", "last_accessed_at"]);
const BUCKET_SORT_COLUMNS = new Set(["id", "name", "created_at", "updated_at"]);
const DEFAULT_LIMIT = 5 * 1024 ** 3;

/** A thrown marker that rolls back a permission probe without being an error. */
class ProbeOk {}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** jsonwebtoken-style messages, which is what Supabase Storage reports. */
function jwtMessage(err: unknown): string {
  const code = (err as { code?: string })?.code;
  if (code === "ERR_JWT_EXPIRED") return "jwt expired";
  if (code === "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") return "invalid signature";
  if (code === "ERR_JWKS_NO_MATCHING_KEY") return "no matching key found";
  if (code === "ERR_JOSE_ALG_NOT_ALLOWED") return "invalid algorithm";
  return "jwt malformed";
}

/** Parses Supabase's size strings ("20MB", "1.5GB", 1024) into bytes. */
export function parseSize(v: unknown): number | null {
  if (v === null || v === undefined || v === "") return null;
  if (typeof v === "number" && Number.isFinite(v) && v >= 0) return Math.floor(v);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)?\s*$/i.exec(String(v));
  if (!m) {
    throw new StorageError(
      400,
      "InvalidRequest",
      "Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B",
    );
  }
  const mult: Record<string, number> = {
    B: 1,
    KB: 1024,
    MB: 1024 ** 2,
    GB: 1024 ** 3,
    TB: 1024 ** 4,
  };
  return Math.floor(Number(m[1]) * mult[(m[2] ?? "B").toUpperCase()]);
}

function mimeAllowed(mime: string, allowed: string[] | null): boolean {
  if (!allowed || allowed.length === 0) return true;
  const essence = mime.split(";")[0].trim().toLowerCase();
  return allowed.some((a) => {
    const rule = a.trim().toLowerCase();
    if (rule.endsWith("/*")) return essence.startsWith(rule.slice(0, -1));
    return rule === essence || rule === mime.trim().toLowerCase();
  });
}

function validateKey(name: string): void {
  if (
    !name || name.split("/").some((p) => p === "" || p === "." || p === "..") ||
    [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  ) {
    throw Errors.invalidKey(name);
  }
}

/** Parses a single `bytes=` range; null = serve everything; throws InvalidRange if unsatisfiable. */
function parseRange(header: string | null, size: number): [number, number] | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null; // malformed or multi-range: ignored (RFC 9110)
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) throw Errors.invalidRange(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) throw Errors.invalidRange(size);
  }
  if (start >= size || size === 0) throw Errors.invalidRange(size);
  return [start, end];
}

export function createStorageHandler(
  opts: StorageHandlerOptions,
): (req: Request) => Promise<Response> {
  const { sql, keys } = opts;
  const blobs = new BlobStore(opts.dataDir);
  const globalLimit = opts.fileSizeLimit ?? DEFAULT_LIMIT;
  const uploadExpiry = opts.signedUploadUrlExpiry ?? 7200;
  const secret = new TextEncoder().encode(keys.jwtSecret);
  const ready = blobs.init();

  // --- auth -------------------------------------------------------------------------------
  async function authenticate(req: Request): Promise<Caller> {
    let token = (req.headers.get("authorization") ?? "").replace(/^Bearer\s+/i, "").trim();
    if (!token) {
      // Behind Supabase's gateway a legacy JWT apikey stands in for a missing Authorization.
      const apikey = req.headers.get("apikey") ?? "";
      if (apikey.split(".").length === 3) token = apikey;
    }
    if (!token) throw Errors.invalidJwt("jwt must be provided");
    let claims: jose.JWTPayload;
    try {
      claims = await verifyToken(keys, token);
    } catch (err) {
      throw Errors.invalidJwt(jwtMessage(err));
    }
    const role = typeof claims.role === "string" ? claims.role : "";
    if (!ROLES.has(role)) throw Errors.invalidJwt(`role "${role}" is not allowed`);
    return { role: role as Role, claims, sub: typeof claims.sub === "string" ? claims.sub : null };
  }

  /**
   * Runs `fn` in a transaction as the caller's role with its claims. `asSuperuser`, if given,
   * runs first in the same transaction with Storage's own privileges (for bookkeeping only,
   * never for an authorisation decision).
   */
  async function asCaller<T>(
    caller: Caller,
    fn: (tx: postgres.TransactionSql) => Promise<T>,
    kind: "object" | "bucket" = "object",
    asSuperuser?: (tx: postgres.TransactionSql) => Promise<void>,
  ): Promise<T> {
    try {
      return (await sql.begin(async (tx) => {
        if (asSuperuser) await asSuperuser(tx);
        await tx`select
          set_config('role', ${caller.role}, true),
          set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
          set_config('request.jwt.claim.sub', ${caller.sub ?? ""}, true),
          set_config('request.jwt.claim.role', ${caller.role}, true)`;
        return await fn(tx);
      })) as T;
    } catch (err) {
      if (err instanceof ProbeOk || err instanceof StorageError) throw err;
      throw fromDbError(err, kind);
    }
  }

  async function bucketAsSuperuser(id: string): Promise<BucketRow | null> {
    const rows = await sql<BucketRow[]>`
      select id, public, file_size_limit::text, allowed_mime_types from storage.buckets where id = ${id}`;
    return rows[0] ?? null;
  }

  async function findObject(
    caller: Caller | null,
    bucket: string,
    name: string,
  ): Promise<ObjectRow | null> {
    const q = (tx: postgres.Sql | postgres.TransactionSql) =>
      tx<ObjectRow[]>`
        select id, name, version, metadata, user_metadata, created_at, updated_at, last_accessed_at
        from storage.objects where bucket_id = ${bucket} and name = ${name}`;
    const rows = caller ? await asCaller(caller, (tx) => q(tx)) : await q(sql);
    return rows[0] ?? null;
  }

  // --- writes -----------------------------------------------------------------------------
  interface RowWrite {
    bucket: string;
    name: string;
    owner: string | null;
    metadata: Record<string, unknown>;
    userMetadata: Record<string, unknown> | null;
    version: string;
    upsert: boolean;
  }

  /** Inserts (or upserts) the row as the caller. A plain insert has no RETURNING, so an
   * INSERT-only policy suffices, as in Supabase; upsert needs SELECT and UPDATE too. */
  async function writeRow(tx: postgres.TransactionSql, w: RowWrite): Promise<string> {
    const owner = w.owner && UUID_RE.test(w.owner) ? w.owner : null;
    const meta = tx.json(w.metadata as postgres.JSONValue);
    const umeta = w.userMetadata ? tx.json(w.userMetadata as postgres.JSONValue) : null;
    if (!w.upsert) {
      const id = crypto.randomUUID();
      await tx`
        insert into storage.objects (id, bucket_id, name, owner, owner_id, metadata, user_metadata, version)
        values (${id}, ${w.bucket}, ${w.name}, ${owner}, ${w.owner}, ${meta}, ${umeta}, ${w.version})`;
      return id;
    }
    const rows = await tx<{ id: string }[]>`
      insert into storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata, version)
      values (${w.bucket}, ${w.name}, ${owner}, ${w.owner}, ${meta}, ${umeta}, ${w.version})
      on conflict (bucket_id, name) do update set
        owner = excluded.owner, owner_id = excluded.owner_id, metadata = excluded.metadata,
        user_metadata = excluded.user_metadata, version = excluded.version,
        updated_at = now(), last_accessed_at = now()
      returning id`;
    return rows[0].id;
  }

  interface UploadSource {
    stream: ReadableStream<Uint8Array>;
    mimetype: string;
    cacheControl: string;
    userMetadata: Record<string, unknown> | null;
    contentEncoding: string | null;
  }

  async function readSource(req: Request): Promise<UploadSource> {
    if (!req.body) throw new StorageError(400, "InvalidRequest", "No content provided");
    const ct = req.headers.get("content-type") ?? "";
    if (/^multipart\/form-data/i.test(ct)) {
      const boundary = boundaryOf(ct);
      if (!boundary) throw Errors.invalidRequest("Missing multipart boundary");
      let part;
      try {
        part = await readMultipart(req.body, boundary);
      } catch (err) {
        throw Errors.invalidRequest(`Invalid multipart body: ${(err as Error).message}`);
      }
      const cc = part.fields.get("cacheControl");
      let userMetadata: Record<string, unknown> | null = null;
      const rawMeta = part.fields.get("metadata");
      if (rawMeta) {
        try {
          userMetadata = JSON.parse(rawMeta);
        } catch {
          throw Errors.invalidRequest("Invalid metadata");
        }
      }
      return {
        stream: part.stream,
        mimetype: part.contentType ?? "text/plain;charset=UTF-8",
        cacheControl: cc ? `max-age=${cc}` : "no-cache",
        userMetadata,
        contentEncoding: part.fields.get("contentEncoding") ?? null,
      };
    }
    let userMetadata: Record<string, unknown> | null = null;
    const xm = req.headers.get("x-metadata");
    if (xm) {
      try {
        userMetadata = JSON.parse(
          new TextDecoder().decode(Uint8Array.from(atob(xm), (c) => c.charCodeAt(0))),
        );
      } catch {
        throw Errors.invalidRequest("Invalid x-metadata header");
      }
    }
    return {
      stream: req.body,
      mimetype: ct || "text/plain;charset=UTF-8",
      cacheControl: req.headers.get("cache-control") ?? "no-cache",
      userMetadata,
      contentEncoding: req.headers.get("content-encoding"),
    };
  }

  /**
   * The upload pipeline: bucket and permission checks first (a probe insert rolled back, so a
   * refused upload is refused before any byte is read), then the body is streamed to a temp
   * file, then the row is written and the file moved into place inside one transaction.
   */
  async function upload(
    req: Request,
    caller: Caller,
    bucketId: string,
    name: string,
    upsert: boolean,
    owner: string | null,
  ): Promise<Response> {
    validateKey(name);
    const bucket = await bucketAsSuperuser(bucketId);
    if (!bucket) throw Errors.noSuchBucket();
    const bucketLimit = bucket.file_size_limit === null ? null : Number(bucket.file_size_limit);
    const limit = bucketLimit && bucketLimit > 0 ? Math.min(bucketLimit, globalLimit) : globalLimit;
    const ct = req.headers.get("content-type") ?? "";
    const isMultipart = /^multipart\/form-data/i.test(ct);
    const declared = Number(req.headers.get("content-length") ?? NaN);
    if (!isMultipart && Number.isFinite(declared) && declared > limit) {
      throw Errors.entityTooLarge();
    }
    if (!isMultipart && !mimeAllowed(ct || "text/plain;charset=UTF-8", bucket.allowed_mime_types)) {
      throw Errors.invalidMimeType(ct);
    }

    const probe: RowWrite = {
      bucket: bucketId,
      name,
      owner,
      metadata: {},
      userMetadata: null,
      version: crypto.randomUUID(),
      upsert,
    };
    try {
      await asCaller(caller, async (tx) => {
        await writeRow(tx, probe);
        throw new ProbeOk();
      });
    } catch (err) {
      if (!(err instanceof ProbeOk)) throw err;
    }

    const src = await readSource(req);
    if (!mimeAllowed(src.mimetype, bucket.allowed_mime_types)) {
      await src.stream.cancel().catch(() => {});
      throw Errors.invalidMimeType(src.mimetype);
    }
    const written = await blobs.writeTemp(src.stream, limit);
    const version = crypto.randomUUID();
    const finalPath = blobs.pathOf(version);
    const metadata: Record<string, unknown> = {
      eTag: `"${written.md5}"`,
      size: written.size,
      mimetype: src.mimetype,
      cacheControl: src.cacheControl,
      lastModified: new Date().toISOString(),
      contentLength: written.size,
      httpStatusCode: 200,
    };
    if (src.contentEncoding) metadata.contentEncoding = src.contentEncoding;
    let moved = false;
    let oldVersion: string | null = null;
    let id: string;
    try {
      id = await asCaller(
        caller,
        async (tx) => {
          const rowId = await writeRow(tx, {
            ...probe,
            metadata,
            userMetadata: src.userMetadata,
            version,
          });
          // Into place before commit: until the commit nothing points at this version, and
          // after it every reader finds a complete file.
          await Deno.rename(written.tmpPath, finalPath);
          moved = true;
          return rowId;
        },
        "object",
        async (tx) => {
          // The replaced version's file is unlinked after commit; the row lock serialises
          // concurrent overwrites of one key so each one removes exactly its predecessor.
          const rows = await tx<{ version: string | null }[]>`
            select version from storage.objects where bucket_id = ${bucketId} and name = ${name}
            for update`;
          oldVersion = rows[0]?.version ?? null;
        },
      );
    } catch (err) {
      await blobs.remove(moved ? finalPath : written.tmpPath);
      throw err;
    }
    if (oldVersion && oldVersion !== version) await blobs.remove(blobs.pathOf(oldVersion));
    return json({ Id: id, Key: `${bucketId}/${name}` });
  }

  // --- reads ------------------------------------------------------------------------------
  async function serveObject(
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
      row = await findObject(caller, bucket, name);
      if (!row) throw Errors.noSuchKey();
      file = await blobs.open(row.version);
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

  async function objectInfo(
    caller: Caller | null,
    bucket: string,
    name: string,
  ): Promise<Response> {
    const row = await findObject(caller, bucket, name);
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

  async function list(
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
    const rows = await asCaller(caller, (tx) =>
      tx`
        with o as (
          select substr(name, ${prefix.length + 1}) as rest, id, updated_at, created_at,
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
        where name <> '' and (${search} = '' or name ilike ${
        search.replace(/[\\%_]/g, "\\$&") + "%"
      })
        order by ${tx(column)} ${
        order === "desc" ? tx`desc` : tx`asc`
      } nulls first, name collate "C"
        limit ${limit} offset ${offset}`);
    return json(rows);
  }

  // --- signing ----------------------------------------------------------------------------
  function signUrlToken(payload: jose.JWTPayload, expiresIn: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({ ...payload, iat: now, exp: now + expiresIn })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(secret);
  }

  async function verifyUrlToken(token: string | null): Promise<jose.JWTPayload> {
    if (!token) {
      throw new StorageError(
        400,
        "InvalidRequest",
        "querystring must have required property 'token'",
      );
    }
    try {
      return (await jose.jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
    } catch (err) {
      throw Errors.invalidSignedToken(jwtMessage(err));
    }
  }

  function expiresInOf(body: Record<string, unknown>): number {
    const n = Number(body.expiresIn);
    if (!Number.isFinite(n) || n < 1) {
      throw new StorageError(400, "InvalidRequest", "body/expiresIn must be >= 1");
    }
    return Math.floor(n);
  }

  async function signOne(
    caller: Caller,
    bucket: string,
    name: string,
    expiresIn: number,
  ): Promise<string> {
    const row = await findObject(caller, bucket, name);
    if (!row) throw Errors.noSuchKey();
    const token = await signUrlToken({ url: `${bucket}/${name}` }, expiresIn);
    return `/object/sign/${bucket}/${name}?token=${token}`;
  }

  // --- buckets ----------------------------------------------------------------------------
  const bucketCols = (tx: postgres.TransactionSql) =>
    tx`id, name, owner, public, type, file_size_limit, allowed_mime_types, created_at, updated_at`;

  async function buckets(req: Request, url: URL, rest: string[]): Promise<Response> {
    const caller = await authenticate(req);
    const id = rest[0] !== undefined ? decodeURIComponent(rest[0]) : undefined;
    if (req.method === "GET" && id === undefined) {
      const limit = Number(url.searchParams.get("limit") ?? 0) || null;
      const offset = Number(url.searchParams.get("offset") ?? 0) || 0;
      const sc = url.searchParams.get("sortColumn") ?? "name";
      const col = BUCKET_SORT_COLUMNS.has(sc) ? sc : "name";
      const desc = (url.searchParams.get("sortOrder") ?? "asc").toLowerCase() === "desc";
      const search = url.searchParams.get("search") ?? "";
      const rows = await asCaller(caller, (tx) =>
        tx`select ${bucketCols(tx)} from storage.buckets
           where (${search} = '' or name ilike ${"%" + search.replace(/[\\%_]/g, "\\$&") + "%"})
           order by ${tx(col)} ${desc ? tx`desc` : tx`asc`}
           limit ${limit} offset ${offset}`, "bucket");
      return json(rows);
    }
    if (req.method === "GET" && rest.length === 1) {
      const rows = await asCaller(
        caller,
        (tx) => tx`select ${bucketCols(tx)} from storage.buckets where id = ${id!}`,
        "bucket",
      );
      if (!rows[0]) throw Errors.noSuchBucket();
      return json(rows[0]);
    }
    if (req.method === "POST" && id === undefined) {
      const body = await req.json().catch(() => ({})) as Record<string, unknown>;
      const name = String(body.name ?? body.id ?? "");
      const bid = String(body.id ?? name);
      if (!name || !BUCKET_NAME_RE.test(name) || name.length > 100) {
        throw Errors.invalidBucketName();
      }
      const size = parseSize(body.file_size_limit);
      const mimes = Array.isArray(body.allowed_mime_types)
        ? body.allowed_mime_types.map(String)
        : null;
      const owner = caller.sub && UUID_RE.test(caller.sub) ? caller.sub : null;
      await asCaller(
        caller,
        (tx) =>
          tx`insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types, type)
           values (${bid}, ${name}, ${owner}, ${caller.sub}, ${
            body.public === true
          }, ${size}, ${mimes},
                   ${typeof body.type === "string" ? body.type : "STANDARD"})`,
        "bucket",
      );
      return json({ name });
    }
    if (req.method === "PUT" && rest.length === 1) {
      const body = await req.json().catch(() => ({})) as Record<string, unknown>;
      const size = parseSize(body.file_size_limit);
      const mimes = Array.isArray(body.allowed_mime_types)
        ? body.allowed_mime_types.map(String)
        : null;
      const rows = await asCaller(
        caller,
        (tx) =>
          tx`update storage.buckets set public = ${body.public === true}, file_size_limit = ${size},
             allowed_mime_types = ${mimes}, updated_at = now()
           where id = ${id!} returning id`,
        "bucket",
      );
      if (!rows[0]) throw Errors.noSuchBucket();
      return json({ message: "Successfully updated" });
    }
    if (req.method === "POST" && rest.length === 2 && rest[1] === "empty") {
      const deleted = await asCaller(
        caller,
        (tx) =>
          tx<
            { version: string | null }[]
          >`delete from storage.objects where bucket_id = ${id!} returning version`,
      );
      for (const d of deleted) if (d.version) await blobs.remove(blobs.pathOf(d.version));
      return json({ message: "Successfully emptied" });
    }
    if (req.method === "DELETE" && rest.length === 1) {
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from storage.objects where bucket_id = ${id!}`;
      if (n > 0) throw Errors.bucketNotEmpty();
      const rows = await asCaller(
        caller,
        (tx) => tx`delete from storage.buckets where id = ${id!} returning id`,
        "bucket",
      );
      if (!rows[0]) throw Errors.noSuchBucket();
      return json({ message: "Successfully deleted" });
    }
    throw Errors.notFound();
  }

  // --- objects ----------------------------------------------------------------------------
  async function objects(req: Request, url: URL, seg: string[]): Promise<Response> {
    const m = req.method;
    const head = seg[0];
    const tail = (from: number) => seg.slice(from).join("/");

    if (head === "list" && m === "POST" && seg.length === 2) {
      const caller = await authenticate(req);
      const body = await req.json().catch(() => ({})) as Record<string, unknown>;
      return await list(caller, seg[1], body);
    }
    if (head === "sign" && seg.length >= 2) {
      if (m === "GET" || m === "HEAD") {
        const name = tail(2);
        const payload = await verifyUrlToken(url.searchParams.get("token"));
        if (payload.url !== `${seg[1]}/${name}`) throw Errors.invalidSignature();
        return await serveObject(req, url, null, seg[1], name, {
          expires: new Date((payload.exp ?? 0) * 1000).toUTCString(),
        });
      }
      if (m === "POST") {
        const caller = await authenticate(req);
        const body = await req.json().catch(() => ({})) as Record<string, unknown>;
        const expiresIn = expiresInOf(body);
        if (seg.length === 2) {
          if (!Array.isArray(body.paths)) {
            throw Errors.invalidRequest("body must have required property 'paths'");
          }
          const out = [];
          for (const p of body.paths.map(String)) {
            try {
              out.push({
                error: null,
                path: p,
                signedURL: await signOne(caller, seg[1], p, expiresIn),
              });
            } catch (err) {
              if (!(err instanceof StorageError) || err.statusCode === 500) throw err;
              out.push({
                error: "Either the object does not exist or you do not have access to it",
                path: p,
                signedURL: null,
              });
            }
          }
          return json(out);
        }
        return json({ signedURL: await signOne(caller, seg[1], tail(2), expiresIn) });
      }
    }
    if (head === "upload" && seg[1] === "sign" && seg.length >= 4) {
      const bucket = seg[2];
      const name = tail(3);
      if (m === "POST") {
        const caller = await authenticate(req);
        validateKey(name);
        if (!(await bucketAsSuperuser(bucket))) throw Errors.noSuchBucket();
        const upsert = req.headers.get("x-upsert") === "true";
        try {
          await asCaller(caller, async (tx) => {
            await writeRow(tx, {
              bucket,
              name,
              owner: caller.sub,
              metadata: {},
              userMetadata: null,
              version: crypto.randomUUID(),
              upsert,
            });
            throw new ProbeOk();
          });
        } catch (err) {
          if (!(err instanceof ProbeOk)) throw err;
        }
        const token = await signUrlToken({
          owner: caller.sub ?? undefined,
          url: `${bucket}/${name}`,
          upsert,
        }, uploadExpiry);
        return json({ url: `/object/upload/sign/${bucket}/${name}?token=${token}`, token });
      }
      if (m === "PUT") {
        const payload = await verifyUrlToken(url.searchParams.get("token"));
        if (payload.url !== `${bucket}/${name}`) throw Errors.invalidSignature();
        // The permission was checked when the URL was signed; the upload itself runs with
        // Storage's own privileges, recording the signer as owner (as Supabase does).
        const su: Caller = { role: "service_role", claims: { role: "service_role" }, sub: null };
        const owner = typeof payload.owner === "string" ? payload.owner : null;
        const res = await upload(req, su, bucket, name, payload.upsert === true, owner);
        const { Id, Key } = await res.json();
        return json({ Id, Key, url: Key });
      }
    }
    if (head === "public" && (m === "GET" || m === "HEAD") && seg.length >= 3) {
      const bucket = await bucketAsSuperuser(seg[1]);
      if (!bucket || !bucket.public) throw Errors.noSuchBucket();
      return await serveObject(req, url, null, seg[1], tail(2));
    }
    if (head === "authenticated" && (m === "GET" || m === "HEAD") && seg.length >= 3) {
      return await serveObject(req, url, await authenticate(req), seg[1], tail(2));
    }
    if (head === "info" && m === "GET" && seg.length >= 3) {
      if (seg[1] === "public" && seg.length >= 4) {
        const bucket = await bucketAsSuperuser(seg[2]);
        if (!bucket || !bucket.public) throw Errors.noSuchBucket();
        return await objectInfo(null, seg[2], tail(3));
      }
      const from = seg[1] === "authenticated" && seg.length >= 4 ? 2 : 1;
      return await objectInfo(await authenticate(req), seg[from], tail(from + 1));
    }
    if ((head === "move" || head === "copy") && m === "POST" && seg.length === 1) {
      return await moveOrCopy(req, head);
    }
    if (seg.length === 1 && m === "DELETE") {
      const caller = await authenticate(req);
      const body = await req.json().catch(() => ({})) as Record<string, unknown>;
      if (
        !Array.isArray(body.prefixes) || body.prefixes.length < 1 || body.prefixes.length > 1000
      ) {
        throw Errors.invalidRequest("body/prefixes must have between 1 and 1000 items");
      }
      const names = body.prefixes.map(String);
      const deleted = await asCaller(
        caller,
        (tx) =>
          tx<(ObjectRow & { bucket_id: string; owner: string | null })[]>`
          delete from storage.objects where bucket_id = ${head} and name = any(${names})
          returning id, bucket_id, name, owner, version, metadata, user_metadata, created_at,
                    updated_at, last_accessed_at`,
      );
      for (const d of deleted) if (d.version) await blobs.remove(blobs.pathOf(d.version));
      return json(deleted);
    }
    if (seg.length >= 2) {
      const bucket = head;
      const name = tail(1);
      if (m === "POST" || m === "PUT") {
        const caller = await authenticate(req);
        const upsert = m === "PUT" || req.headers.get("x-upsert") === "true";
        return await upload(req, caller, bucket, name, upsert, caller.sub);
      }
      if (m === "GET" || m === "HEAD") {
        return await serveObject(req, url, await authenticate(req), bucket, name);
      }
      if (m === "DELETE") {
        const caller = await authenticate(req);
        const rows = await asCaller(caller, (tx) =>
          tx<{ version: string | null }[]>`
            delete from storage.objects where bucket_id = ${bucket} and name = ${name} returning version`);
        if (!rows[0]) throw Errors.noSuchKey();
        if (rows[0].version) await blobs.remove(blobs.pathOf(rows[0].version));
        return json({ message: "Successfully deleted" });
      }
    }
    throw Errors.notFound();
  }

  async function moveOrCopy(req: Request, op: "move" | "copy"): Promise<Response> {
    const caller = await authenticate(req);
    const body = await req.json().catch(() => ({})) as Record<string, unknown>;
    const bucketId = String(body.bucketId ?? "");
    const from = String(body.sourceKey ?? "");
    const to = String(body.destinationKey ?? "");
    const destBucket = typeof body.destinationBucket === "string"
      ? body.destinationBucket
      : bucketId;
    validateKey(from);
    validateKey(to);
    if (!(await bucketAsSuperuser(destBucket))) throw Errors.noSuchBucket();
    if (op === "move") {
      const rows = await asCaller(
        caller,
        (tx) =>
          tx`update storage.objects set bucket_id = ${destBucket}, name = ${to}, updated_at = now()
           where bucket_id = ${bucketId} and name = ${from} returning id`,
      );
      if (!rows[0]) throw Errors.noSuchKey();
      return json({ message: "Successfully moved" });
    }
    const version = crypto.randomUUID();
    let copied = false;
    try {
      const id = await asCaller(caller, async (tx) => {
        const src = await tx<ObjectRow[]>`
          select id, name, version, metadata, user_metadata, created_at, updated_at, last_accessed_at
          from storage.objects where bucket_id = ${bucketId} and name = ${from}`;
        if (!src[0]) throw Errors.noSuchKey();
        await blobs.copy(src[0].version, version);
        copied = true;
        return await writeRow(tx, {
          bucket: destBucket,
          name: to,
          owner: caller.sub,
          metadata: { ...(src[0].metadata ?? {}), lastModified: new Date().toISOString() },
          userMetadata: src[0].user_metadata,
          version,
          upsert: false,
        });
      });
      return json({ Id: id, Key: `${destBucket}/${to}` });
    } catch (err) {
      if (copied) await blobs.remove(blobs.pathOf(version));
      throw err;
    }
  }

  return async function handle(req: Request): Promise<Response> {
    await ready;
    const url = new URL(req.url);
    try {
      if (!url.pathname.startsWith("/storage/v1/")) throw Errors.notFound();
      const seg = url.pathname.slice("/storage/v1/".length).split("/").map((s) =>
        decodeURIComponent(s)
      );
      // storage-js strips empty folders; a trailing slash on a key is not meaningful.
      while (seg.length > 1 && seg[seg.length - 1] === "") seg.pop();
      if (seg[0] === "bucket") {
        return await buckets(req, url, seg.slice(1).filter((s) => s !== ""));
      }
      if (seg[0] === "object") return await objects(req, url, seg.slice(1));
      throw Errors.notFound();
    } catch (err) {
      const e = err instanceof StorageError ? err : fromDbError(err);
      // Drain nothing: an unread upload body is simply dropped with the connection.
      return e.toResponse(req.method);
    }
  };
}
