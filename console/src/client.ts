/// <reference lib="dom" />
// The typed client the console uses. A thin stand-in with the agreed API of `client/`
// (/work/notes/client_api.md) until that package lands in this tree; then this file only
// re-exports it.
import type { SupabaseClient } from "@supabase/supabase-js";

export type JobStatusValue = "pending" | "processing" | "complete" | "failed";
export type Service = "openai" | "tripoai";
export interface StoredOutput {
  bucket: string;
  path: string;
}
export interface JobView {
  task_id: string;
  client_task_id: string;
  kind: string;
  service: Service;
  status: JobStatusValue;
  progress: number;
  queue_position: number;
  eta_seconds: number | null;
  outputs: StoredOutput[];
  error: string | null;
  error_code: string | null;
  cost: number;
  source_task_id: string | null;
  seq: number;
  updated_at: string;
}
export interface TaskStatus extends JobView {
  asset_url: string | null;
  asset_urls: string[];
  conversions: { job_id: string; format: string; status: JobStatusValue }[];
}
export interface Accepted {
  job_id: string;
  celery_task_id: string;
  task_id: string;
  status: JobStatusValue;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details?: unknown,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Body = Record<string, unknown>;
interface CallOptions {
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export class MakeIt3D {
  readonly supabaseUrl: string;
  readonly functionsUrl: string;
  readonly #supabase: SupabaseClient;

  constructor(opts: { supabase: SupabaseClient; functionsUrl: string }) {
    this.#supabase = opts.supabase;
    this.functionsUrl = opts.functionsUrl.replace(/\/+$/, "");
    this.supabaseUrl = new URL(this.functionsUrl).origin;
  }

  async #session() {
    const { data } = await this.#supabase.auth.getSession();
    if (!data.session) throw new ApiError("unauthorized", 401, "Sign in first.");
    return { token: data.session.access_token, userId: data.session.user.id };
  }

  async #call<T>(path: string, init: RequestInit & { idempotencyKey?: string }): Promise<T> {
    const { token } = await this.#session();
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    if (init.body) headers.set("content-type", "application/json");
    if (init.idempotencyKey) headers.set("idempotency-key", init.idempotencyKey);
    const res = await fetch(`${this.functionsUrl}/${path}`, { ...init, headers });
    const text = await res.text();
    const body = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const e = body?.error ?? {};
      const ra = Number(res.headers.get("retry-after"));
      throw new ApiError(
        e.code ?? "http_error",
        res.status,
        e.message ?? res.statusText,
        e.details,
        Number.isFinite(ra) && ra > 0 ? ra : undefined,
      );
    }
    return body as T;
  }

  #generate(fn: string, body: Body, opts: CallOptions = {}): Promise<Accepted> {
    return this.#call<Accepted>(fn, {
      method: "POST",
      body: JSON.stringify(body),
      signal: opts.signal,
      idempotencyKey: opts.idempotencyKey ?? crypto.randomUUID(),
    });
  }
  textToModel = (b: Body, o?: CallOptions) => this.#generate("generate-text-to-model", b, o);
  imageToModel = (b: Body, o?: CallOptions) => this.#generate("generate-image-to-model", b, o);
  sketchToModel = (b: Body, o?: CallOptions) => this.#generate("generate-sketch-to-model", b, o);
  refineModel = (b: Body, o?: CallOptions) => this.#generate("generate-refine-model", b, o);
  imageToImage = (b: Body, o?: CallOptions) => this.#generate("generate-image-to-image", b, o);
  textToImage = (b: Body, o?: CallOptions) => this.#generate("generate-text-to-image", b, o);
  convertModel = (b: Body, o?: CallOptions) => this.#generate("generate-convert-model", b, o);

  status(jobId: string, opts: { service?: Service } = {}): Promise<TaskStatus> {
    const q = opts.service ? `?service=${opts.service}` : "";
    return this.#call<TaskStatus>(`task-status/${jobId}${q}`, { method: "GET" });
  }

  cancel(jobId: string): Promise<unknown> {
    return this.#call(`task-status/${jobId}`, { method: "DELETE" });
  }

  credits(): Promise<{ balance: number; reserved: number; available: number }> {
    return this.#call("credits", { method: "GET" });
  }

  async uploadInput(
    file: Blob,
    opts: { kind: "image" | "sketch" | "model"; contentType?: string; name?: string },
  ): Promise<string> {
    const { userId } = await this.#session();
    const path = `${userId}/${opts.name ?? `${opts.kind}-${crypto.randomUUID()}`}`;
    const { error } = await this.#supabase.storage.from("input-assets").upload(path, file, {
      contentType: opts.contentType ?? file.type,
      upsert: true,
    });
    if (error) throw new ApiError("upload_failed", 400, error.message);
    return `${this.supabaseUrl}/storage/v1/object/authenticated/input-assets/${path}`;
  }

  async signedUrl(o: StoredOutput, expiresInSeconds = 3600): Promise<string> {
    const { data, error } = await this.#supabase.storage.from(o.bucket).createSignedUrl(
      o.path,
      expiresInSeconds,
    );
    if (error || !data) throw new ApiError("not_found", 404, error?.message ?? "no URL");
    return data.signedUrl;
  }
}

export function isTerminal(s: { status: JobStatusValue }): boolean {
  return s.status === "complete" || s.status === "failed";
}
