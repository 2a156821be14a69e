// `/object/…`: the object routes storage-js calls, dispatched by path shape, plus move/copy
// and delete. Reads live in read.ts, uploads in upload.ts, signed URLs in signing.ts.
import { authenticate } from "./caller.ts";
import type { StorageContext } from "./context.ts";
import {
  asCaller,
  bucketAsSuperuser,
  OBJECT_COLS,
  type ObjectRow,
  raw,
  stmt,
  versionInUse,
  writeRow,
} from "./db.ts";
import { Errors } from "./errors.ts";
import { bodyOf, json, validateKey } from "./http.ts";
import { list, objectInfo, serveObject } from "./read.ts";
import { signRoutes } from "./signing.ts";
import { signedUploadRoutes, upload } from "./upload.ts";

/** A public bucket's object, or 404 for a private (or missing) bucket, as Supabase answers. */
async function requirePublic(ctx: StorageContext, bucket: string): Promise<void> {
  const b = await bucketAsSuperuser(ctx.sql, bucket);
  if (!b || !b.public) throw Errors.noSuchBucket();
}

export async function objectRoutes(
  ctx: StorageContext,
  req: Request,
  url: URL,
  seg: string[],
): Promise<Response> {
  const m = req.method;
  const head = seg[0];
  const tail = (from: number) => seg.slice(from).join("/");
  const read = m === "GET" || m === "HEAD";

  if (head === "list" && m === "POST" && seg.length === 2) {
    const caller = await authenticate(ctx.keys, req);
    return await list(ctx, caller, seg[1], await bodyOf(req));
  }
  if (head === "sign" && seg.length >= 2) {
    const res = await signRoutes(ctx, req, url, seg);
    if (res) return res;
  }
  if (head === "upload" && seg[1] === "sign" && seg.length >= 4) {
    const res = await signedUploadRoutes(ctx, req, url, seg[2], tail(3));
    if (res) return res;
  }
  if (head === "public" && read && seg.length >= 3) {
    await requirePublic(ctx, seg[1]);
    return await serveObject(ctx, req, url, null, seg[1], tail(2));
  }
  if (head === "authenticated" && read && seg.length >= 3) {
    const caller = await authenticate(ctx.keys, req);
    return await serveObject(ctx, req, url, caller, seg[1], tail(2));
  }
  if (head === "info" && m === "GET" && seg.length >= 3) {
    if (seg[1] === "public" && seg.length >= 4) {
      await requirePublic(ctx, seg[2]);
      return await objectInfo(ctx, null, seg[2], tail(3));
    }
    const from = seg[1] === "authenticated" && seg.length >= 4 ? 2 : 1;
    const caller = await authenticate(ctx.keys, req);
    return await objectInfo(ctx, caller, seg[from], tail(from + 1));
  }
  if ((head === "move" || head === "copy") && m === "POST" && seg.length === 1) {
    return await moveOrCopy(ctx, req, head);
  }
  if (seg.length === 1 && m === "DELETE") return await removeMany(ctx, req, head);
  if (seg.length >= 2) {
    const bucket = head;
    const name = tail(1);
    if (m === "POST" || m === "PUT") {
      const caller = await authenticate(ctx.keys, req);
      const upsert = m === "PUT" || req.headers.get("x-upsert") === "true";
      return await upload(ctx, req, caller, bucket, name, upsert, caller.sub);
    }
    if (read) {
      const caller = await authenticate(ctx.keys, req);
      return await serveObject(ctx, req, url, caller, bucket, name);
    }
    if (m === "DELETE") {
      const caller = await authenticate(ctx.keys, req);
      const rows = await asCaller<{ version: string | null }>(
        ctx.sql,
        caller,
        stmt`delete from storage.objects where bucket_id = ${bucket} and name = ${name}
             returning version`,
      );
      if (!rows[0]) throw Errors.noSuchKey();
      if (rows[0].version) await ctx.blobs.remove(ctx.blobs.pathOf(rows[0].version));
      return json({ message: "Successfully deleted" });
    }
  }
  throw Errors.notFound();
}

/** `DELETE /object/<bucket>` with `prefixes`: what the caller may delete goes; returns it. */
async function removeMany(ctx: StorageContext, req: Request, bucket: string): Promise<Response> {
  const caller = await authenticate(ctx.keys, req);
  const body = await bodyOf(req);
  if (!Array.isArray(body.prefixes) || body.prefixes.length < 1 || body.prefixes.length > 1000) {
    throw Errors.invalidRequest("body/prefixes must have between 1 and 1000 items");
  }
  const names: string[] = body.prefixes.map(String);
  const deleted = await asCaller<ObjectRow & { bucket_id: string; owner: string | null }>(
    ctx.sql,
    caller,
    stmt`delete from storage.objects where bucket_id = ${bucket} and name = any(${names}::text[])
         returning id, bucket_id, name, owner, version, metadata, user_metadata, created_at,
                   updated_at, last_accessed_at`,
  );
  for (const d of deleted) if (d.version) await ctx.blobs.remove(ctx.blobs.pathOf(d.version));
  return json(deleted);
}

async function moveOrCopy(
  ctx: StorageContext,
  req: Request,
  op: "move" | "copy",
): Promise<Response> {
  const caller = await authenticate(ctx.keys, req);
  const body = await bodyOf(req);
  const bucketId = String(body.bucketId ?? "");
  const from = String(body.sourceKey ?? "");
  const to = String(body.destinationKey ?? "");
  const destBucket = typeof body.destinationBucket === "string" ? body.destinationBucket : bucketId;
  validateKey(from);
  validateKey(to);
  if (!(await bucketAsSuperuser(ctx.sql, destBucket))) throw Errors.noSuchBucket();
  if (op === "move") {
    const rows = await asCaller(
      ctx.sql,
      caller,
      stmt`update storage.objects set bucket_id = ${destBucket}, name = ${to}, updated_at = now()
           where bucket_id = ${bucketId} and name = ${from} returning id`,
    );
    if (!rows[0]) throw Errors.noSuchKey();
    return json({ message: "Successfully moved" });
  }
  // Two statements, each as the caller: reading the source needs its SELECT policy, writing
  // the copy its INSERT policy; the bytes are copied under a fresh version in between.
  const [src] = await asCaller<ObjectRow>(
    ctx.sql,
    caller,
    stmt`select ${raw(OBJECT_COLS)} from storage.objects
         where bucket_id = ${bucketId} and name = ${from}`,
  );
  if (!src) throw Errors.noSuchKey();
  const version = crypto.randomUUID();
  await ctx.blobs.copy(src.version, version);
  try {
    const { id } = await writeRow(ctx.sql, caller, {
      bucket: destBucket,
      name: to,
      owner: caller.sub,
      metadata: { ...(src.metadata ?? {}), lastModified: new Date().toISOString() },
      userMetadata: src.user_metadata,
      version,
      upsert: false,
    });
    return json({ Id: id, Key: `${destBucket}/${to}` });
  } catch (err) {
    if (!(await versionInUse(ctx.sql, version))) await ctx.blobs.remove(ctx.blobs.pathOf(version));
    throw err;
  }
}
