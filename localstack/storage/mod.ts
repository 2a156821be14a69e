// Local stand-in for Supabase Storage: the REST subset storage-js calls, with Supabase's error
// shapes. Authorisation is never decided here: every object/bucket statement runs as the
// caller's Postgres role with the caller's JWT claims set, as the real Storage server does, so
// the RLS policies on storage.objects / storage.buckets decide (db.ts says how, in ONE
// statement each). This file only routes; see bucket/object/upload/read/signing modules.
import { bucketRoutes } from "./buckets.ts";
import { createContext, type StorageHandlerOptions } from "./context.ts";
import { Errors, fromDbError, StorageError } from "./errors.ts";
import { objectRoutes } from "./objects.ts";

export type { StorageHandlerOptions } from "./context.ts";
export { parseSize } from "./http.ts";

export function createStorageHandler(
  opts: StorageHandlerOptions,
): (req: Request) => Promise<Response> {
  const ctx = createContext(opts);
  const ready = ctx.blobs.init();

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
        return await bucketRoutes(ctx, req, url, seg.slice(1).filter((s) => s !== ""));
      }
      if (seg[0] === "object") return await objectRoutes(ctx, req, url, seg.slice(1));
      throw Errors.notFound();
    } catch (err) {
      const e = err instanceof StorageError ? err : fromDbError(err);
      // Drain nothing: an unread upload body is simply dropped with the connection.
      return e.toResponse(req.method);
    }
  };
}
