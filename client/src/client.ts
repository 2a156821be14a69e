// The MakeIt3D client: one method per endpoint of the BFF, on top of the app's own supabase-js
// client (its session, Storage and Realtime). See ../README.md.
import type { SupabaseClient } from "@supabase/supabase-js";
import { ApiError } from "./errors.ts";
import { createTransport, type FetchLike, type Transport } from "./http.ts";
import { listenToJobs } from "./hub.ts";
import { newIdempotencyKey } from "./ids.ts";
import type {
  Accepted,
  Cancelled,
  ConvertModelBody,
  CreditStatement,
  ImageToImageBody,
  ImageToModelBody,
  OpsOverview,
  Prices,
  RefineModelBody,
  Service,
  SketchToModelBody,
  TaskStatus,
  TextToImageBody,
  TextToModelBody,
} from "./types.ts";
import { isTerminal, type JobUpdate, watchJob, type WatchOptions } from "./watch.ts";

export interface MakeIt3DOptions {
  /** The app's supabase-js client; its signed-in user is who calls the BFF. */
  supabase: SupabaseClient;
  /** Default `${supabaseUrl}/functions/v1`. */
  functionsUrl?: string;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface CallOptions {
  /** Default: a fresh key per call, reused by the client's own retries of that call. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Rejects with ApiError `timeout` (status 0) after this long. */
  timeoutMs?: number;
  onUpdate?: (job: JobUpdate) => void;
  service?: Service;
  pollIntervalMs?: number;
}

export type InputKind = "image" | "sketch" | "model";

export interface UploadOptions {
  kind: InputKind;
  /** Default: the Blob's type, else image/png (image, sketch) or model/gltf-binary (model). */
  contentType?: string;
  /** Object name inside the user's folder; default `<kind>-<uuid>.<ext>`. */
  name?: string;
}

const EXT: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "model/gltf-binary": "glb",
};

function readString(o: object, key: string): string | undefined {
  const v: unknown = Reflect.get(o, key);
  return typeof v === "string" && v ? v : undefined;
}

export class MakeIt3D {
  readonly supabase: SupabaseClient;
  /** The project URL the BFF accepts input URLs of. */
  readonly supabaseUrl: string;
  readonly functionsUrl: string;
  private readonly http: Transport;

  constructor(opts: MakeIt3DOptions) {
    this.supabase = opts.supabase;
    // supabase-js keeps its URL and key on the client (not in its public types).
    const url = readString(opts.supabase, "supabaseUrl");
    if (!url && !opts.functionsUrl) {
      throw new Error("MakeIt3D: pass functionsUrl (the supabase client has no supabaseUrl).");
    }
    const origin = opts.functionsUrl?.match(/^[a-z][a-z0-9+.-]*:\/\/[^/]+/i)?.[0];
    this.supabaseUrl = (url ?? origin ?? "").replace(/\/+$/, "");
    this.functionsUrl = (opts.functionsUrl ?? `${this.supabaseUrl}/functions/v1`).replace(
      /\/+$/,
      "",
    );
    const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
    const fetchLike: FetchLike = (input, init) => f(input, init);
    this.http = createTransport({
      functionsUrl: this.functionsUrl,
      apiKey: readString(opts.supabase, "supabaseKey"),
      accessToken: () => this.token(),
      fetch: fetchLike,
    });
  }

  private async token(): Promise<string | undefined> {
    const { data } = await this.supabase.auth.getSession();
    return data.session?.access_token;
  }

  private async session(): Promise<{ userId: string; token: string }> {
    const { data } = await this.supabase.auth.getSession();
    const s = data.session;
    if (!s) {
      throw new ApiError({ code: "unauthorized", status: 401, message: "Sign in first." });
    }
    return { userId: s.user.id, token: s.access_token };
  }

  private generate(fn: string, body: object, opts: CallOptions = {}): Promise<Accepted> {
    return this.http.call<Accepted>(fn, {
      method: "POST",
      body,
      idempotencyKey: opts.idempotencyKey ?? newIdempotencyKey(),
      signal: opts.signal,
    });
  }

  // --- generations (202 Accepted) ------------------------------------------------------------

  imageToImage(body: ImageToImageBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-image-to-image", body, opts);
  }
  textToImage(body: TextToImageBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-text-to-image", body, opts);
  }
  textToModel(body: TextToModelBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-text-to-model", body, opts);
  }
  imageToModel(body: ImageToModelBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-image-to-model", body, opts);
  }
  sketchToModel(body: SketchToModelBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-sketch-to-model", body, opts);
  }
  refineModel(body: RefineModelBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-refine-model", body, opts);
  }
  convertModel(body: ConvertModelBody, opts?: CallOptions): Promise<Accepted> {
    return this.generate("generate-convert-model", body, opts);
  }

  // --- jobs ------------------------------------------------------------------------------------

  /** task-status: the job with freshly signed URLs of its outputs. */
  status(
    jobId: string,
    opts: { service?: Service; signal?: AbortSignal } = {},
  ): Promise<TaskStatus> {
    return this.http.call<TaskStatus>(`task-status/${encodeURIComponent(jobId)}`, {
      method: "GET",
      query: { service: opts.service },
      signal: opts.signal,
    });
  }

  /** Cancels the caller's job (409 `conflict` when it already ended). */
  cancel(jobId: string, opts: { signal?: AbortSignal } = {}): Promise<Cancelled> {
    return this.http.call<Cancelled>(`task-status/${encodeURIComponent(jobId)}`, {
      method: "DELETE",
      signal: opts.signal,
    });
  }

  /** Follows a job; returns the function that stops it. See WatchOptions. */
  watch(jobId: string, onUpdate: (job: JobUpdate) => void, opts: WatchOptions = {}): () => void {
    return watchJob(
      {
        fetchStatus: (id, service) => this.status(id, { service }),
        listen: async (listener) => {
          const s = await this.session();
          return await listenToJobs(this.supabase, s.userId, s.token, listener);
        },
      },
      jobId,
      onUpdate,
      opts,
    );
  }

  /** Resolves with the job's terminal task-status (complete or failed). */
  waitFor(jobId: string, opts: WaitOptions = {}): Promise<TaskStatus> {
    return new Promise<TaskStatus>((resolve, reject) => {
      const ctrl = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const end = () => {
        ctrl.abort();
        if (timer !== undefined) clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        end();
        reject(opts.signal?.reason);
      };
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          end();
          reject(
            new ApiError({
              code: "timeout",
              status: 0,
              message: `Job ${jobId} did not finish within ${opts.timeoutMs} ms.`,
            }),
          );
        }, opts.timeoutMs);
      }
      this.watch(jobId, (job) => {
        opts.onUpdate?.(job);
        if (isTerminal(job)) {
          end();
          resolve(job as TaskStatus);
        }
      }, {
        service: opts.service,
        pollIntervalMs: opts.pollIntervalMs,
        signal: ctrl.signal,
        onError: (e, isFatal) => {
          if (!isFatal) return;
          end();
          reject(e);
        },
      });
    });
  }

  // --- credits ---------------------------------------------------------------------------------

  credits(opts: { before?: number; limit?: number; signal?: AbortSignal } = {}): Promise<
    CreditStatement
  > {
    return this.http.call<CreditStatement>("credits", {
      method: "GET",
      query: { before: opts.before, limit: opts.limit },
      signal: opts.signal,
    });
  }

  prices(opts: { signal?: AbortSignal } = {}): Promise<Prices> {
    return this.http.call<Prices>("credits/prices", { method: "GET", signal: opts.signal });
  }

  /** The operators' view (users whose app_metadata marks them operators; others get 403). */
  ops(opts: { signal?: AbortSignal } = {}): Promise<OpsOverview> {
    return this.http.call<OpsOverview>("ops", { method: "GET", signal: opts.signal });
  }

  // --- Storage ---------------------------------------------------------------------------------

  /**
   * Uploads an input to `input-assets/{uid}/<name>` as the signed-in user and returns the URL the
   * endpoints want (`…/storage/v1/object/authenticated/input-assets/{uid}/<name>`).
   */
  async uploadInput(
    file: Blob | ArrayBuffer | Uint8Array,
    opts: UploadOptions,
  ): Promise<string> {
    const { userId } = await this.session();
    const blobType = typeof Blob !== "undefined" && file instanceof Blob ? file.type : "";
    const contentType = opts.contentType || blobType ||
      (opts.kind === "model" ? "model/gltf-binary" : "image/png");
    const name = opts.name ??
      `${opts.kind}-${newIdempotencyKey()}.${EXT[contentType] ?? "bin"}`;
    if (!/^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,200}$/.test(name) || name.includes("..")) {
      throw new ApiError({
        code: "bad_request",
        status: 400,
        message: "name must be a plain object name (letters, digits, . _ - /).",
      });
    }
    const path = `${userId}/${name}`;
    const { error } = await this.supabase.storage.from("input-assets").upload(path, file, {
      contentType,
      upsert: true,
    });
    if (error) throw storageError(error);
    return `${this.supabaseUrl}/storage/v1/object/authenticated/input-assets/${path}`;
  }

  /** A signed download URL of an output (`{ bucket, path }` of a job's `outputs`). */
  async signedUrl(
    output: { bucket: string; path: string },
    expiresInSeconds = 3600,
  ): Promise<string> {
    const { data, error } = await this.supabase.storage.from(output.bucket).createSignedUrl(
      output.path,
      expiresInSeconds,
    );
    if (error || !data) throw storageError(error);
    return data.signedUrl;
  }
}

/** storage-js errors as ApiError (status from the Storage API when it answered). */
function storageError(e: unknown): ApiError {
  const raw = typeof e === "object" && e !== null ? Reflect.get(e, "status") : undefined;
  const status = typeof raw === "number" ? raw : Number(raw) || 0;
  const message = e instanceof Error ? e.message : "Storage refused the request.";
  return new ApiError({
    code: status === 0 ? "network_error" : `storage_${status}`,
    status,
    message,
  });
}
