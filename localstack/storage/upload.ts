// Uploads: standard (raw body or multipart form, as storage-js sends them) and through signed
// upload URLs. The bytes are streamed to disk; the row is written as the caller, so the INSERT
// (and for upsert SELECT/UPDATE) policies decide.
import { authenticate, type Caller, STORAGE_ITSELF } from "./caller.ts";
import type { StorageContext } from "./context.ts";
import { bucketAsSuperuser, probeWrite, type RowWrite, versionInUse, writeRow } from "./db.ts";
import { Errors, StorageError } from "./errors.ts";
import { json, mimeAllowed, validateKey } from "./http.ts";
import { boundaryOf, readMultipart } from "./multipart.ts";
import { signUrlToken, verifyUrlToken } from "./signing.ts";

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
 * The upload pipeline: bucket and permission checks first (the write is probed and rolled
 * back, so a refused upload is refused before any byte is read), then the body is streamed to
 * a temp file, moved into place under a fresh version, and only then the row is written.
 */
export async function upload(
  ctx: StorageContext,
  req: Request,
  caller: Caller,
  bucketId: string,
  name: string,
  upsert: boolean,
  owner: string | null,
): Promise<Response> {
  validateKey(name);
  const bucket = await bucketAsSuperuser(ctx.sql, bucketId);
  if (!bucket) throw Errors.noSuchBucket();
  const bucketLimit = bucket.file_size_limit === null ? null : Number(bucket.file_size_limit);
  const limit = bucketLimit && bucketLimit > 0
    ? Math.min(bucketLimit, ctx.globalLimit)
    : ctx.globalLimit;
  const ct = req.headers.get("content-type") ?? "";
  const isMultipart = /^multipart\/form-data/i.test(ct);
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (!isMultipart && Number.isFinite(declared) && declared > limit) {
    throw Errors.entityTooLarge();
  }
  if (!isMultipart && !mimeAllowed(ct || "text/plain;charset=UTF-8", bucket.allowed_mime_types)) {
    throw Errors.invalidMimeType(ct);
  }

  const row: RowWrite = {
    bucket: bucketId,
    name,
    owner,
    metadata: {},
    userMetadata: null,
    version: crypto.randomUUID(),
    upsert,
  };
  await probeWrite(ctx.sql, caller, row);

  const src = await readSource(req);
  if (!mimeAllowed(src.mimetype, bucket.allowed_mime_types)) {
    await src.stream.cancel().catch(() => {});
    throw Errors.invalidMimeType(src.mimetype);
  }
  const written = await ctx.blobs.writeTemp(src.stream, limit);
  const version = crypto.randomUUID();
  const finalPath = ctx.blobs.pathOf(version);
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
  // Into place before the row: nothing points at this version until the row is written, and
  // from then on every reader finds a complete file.
  try {
    await Deno.rename(written.tmpPath, finalPath);
  } catch (err) {
    await ctx.blobs.remove(written.tmpPath);
    throw err;
  }
  let done: { id: string; oldVersion: string | null };
  try {
    done = await writeRow(ctx.sql, caller, {
      ...row,
      metadata,
      userMetadata: src.userMetadata,
      version,
    });
  } catch (err) {
    // A reset can lose the reply of a write that committed: keep the file if a row has it.
    if (!(await versionInUse(ctx.sql, version))) await ctx.blobs.remove(finalPath);
    throw err;
  }
  // The replaced version's file goes once its row no longer points at it.
  if (done.oldVersion && done.oldVersion !== version) {
    await ctx.blobs.remove(ctx.blobs.pathOf(done.oldVersion));
  }
  return json({ Id: done.id, Key: `${bucketId}/${name}` });
}

/** `/object/upload/sign/<bucket>/<name>`: POST mints a signed upload URL, PUT uses it. */
export async function signedUploadRoutes(
  ctx: StorageContext,
  req: Request,
  url: URL,
  bucket: string,
  name: string,
): Promise<Response | null> {
  if (req.method === "POST") {
    const caller = await authenticate(ctx.keys, req);
    validateKey(name);
    if (!(await bucketAsSuperuser(ctx.sql, bucket))) throw Errors.noSuchBucket();
    const upsert = req.headers.get("x-upsert") === "true";
    await probeWrite(ctx.sql, caller, {
      bucket,
      name,
      owner: caller.sub,
      metadata: {},
      userMetadata: null,
      version: crypto.randomUUID(),
      upsert,
    });
    const token = await signUrlToken(ctx, {
      owner: caller.sub ?? undefined,
      url: `${bucket}/${name}`,
      upsert,
    }, ctx.uploadExpiry);
    return json({ url: `/object/upload/sign/${bucket}/${name}?token=${token}`, token });
  }
  if (req.method === "PUT") {
    const payload = await verifyUrlToken(ctx, url.searchParams.get("token"));
    if (payload.url !== `${bucket}/${name}`) throw Errors.invalidSignature();
    // The permission was checked when the URL was signed; the upload itself runs with
    // Storage's own privileges, recording the signer as owner (as Supabase does).
    const owner = typeof payload.owner === "string" ? payload.owner : null;
    const res = await upload(
      ctx,
      req,
      STORAGE_ITSELF,
      bucket,
      name,
      payload.upsert === true,
      owner,
    );
    const { Id, Key } = await res.json();
    return json({ Id, Key, url: Key });
  }
  return null;
}
