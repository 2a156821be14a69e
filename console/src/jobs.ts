/// <reference lib="dom" />
// The live list of the signed-in user's jobs: one Realtime channel on the private topic
// `user:<uid>:jobs` (event `job`, SPEC §9) updates every card; events older than the card
// (by `seq`) are dropped; each (re)subscribe re-reads task-status of the unfinished jobs, so a
// reconnect never misses an end. A finished job is read once more from task-status for its
// freshly signed outputs: PNGs as images, the GLB in <model-viewer>, conversions as links.
import type { RealtimeChannel, SupabaseClient } from "@supabase/supabase-js";
import { isTerminal, type JobView, type MakeIt3D, type TaskStatus } from "./client.ts";
import { describe, el } from "./dom.ts";

const IMAGE_KINDS = new Set(["image_to_image", "text_to_image"]);
const MODEL_KINDS = new Set(["text_to_model", "image_to_model", "sketch_to_model", "refine_model"]);

interface Card {
  view: JobView;
  root: HTMLElement;
  finished: boolean;
}

export function createJobList(opts: {
  root: HTMLElement;
  live: HTMLElement;
  m3d: MakeIt3D;
  supabase: SupabaseClient;
  /** "Use this model" on a finished model: its Storage URL for refine / convert. */
  onUseModel: (url: string) => void;
}) {
  const { root, live, m3d, supabase } = opts;
  const cards = new Map<string, Card>();
  let channel: RealtimeChannel | null = null;
  let storageKey = "";

  function remember() {
    if (storageKey) localStorage.setItem(storageKey, JSON.stringify([...cards.keys()]));
  }

  function card(view: JobView): Card {
    let c = cards.get(view.task_id);
    if (!c) {
      const article = el("article", { class: "job", "data-job-id": view.task_id });
      c = { view, root: article, finished: false };
      cards.set(view.task_id, c);
      root.prepend(article);
      remember();
    }
    return c;
  }

  function render(c: Card) {
    const v = c.view;
    const a = c.root;
    a.dataset.kind = v.kind;
    a.dataset.status = v.status;
    const head = el(
      "header",
      {},
      el("b", {}, v.kind.replaceAll("_", " ")),
      el("code", { title: v.task_id }, v.client_task_id),
      el("span", { class: `status ${v.status}` }, v.status),
    );
    if (!isTerminal(v)) {
      const cancel = el("button", { type: "button", class: "small" }, "cancel");
      cancel.onclick = () => m3d.cancel(v.task_id).catch((e) => alert(describe(e).text));
      head.append(cancel);
    }
    const meta = [
      `progress ${v.progress}%`,
      v.status === "pending" || v.queue_position > 0 ? `queue position ${v.queue_position}` : "",
      v.eta_seconds != null ? `eta ${v.eta_seconds}s` : "",
      v.cost ? `cost ${v.cost}` : "",
      v.source_task_id ? `from ${v.source_task_id.slice(0, 8)}` : "",
    ].filter(Boolean).join(" · ");
    const progress = el("progress", { max: "100", value: String(v.progress) });
    const parts: Node[] = [head, progress, el("p", { class: "meta" }, meta)];
    if (v.error || v.error_code) {
      parts.push(
        el(
          "p",
          { class: "error", "data-error-code": v.error_code ?? "" },
          `${v.error_code ?? "error"}: ${v.error ?? ""}`,
        ),
      );
    }
    const outputs = a.querySelector(".outputs") ?? el("div", { class: "outputs" });
    a.replaceChildren(...parts, outputs);
  }

  function showOutputs(c: Card, s: TaskStatus) {
    const box = c.root.querySelector(".outputs")!;
    box.replaceChildren();
    if (s.status !== "complete") return;
    if (IMAGE_KINDS.has(s.kind)) {
      for (const url of s.asset_urls) {
        const img = el("img", { class: "output-image", alt: `${s.kind} output`, src: url });
        img.onload = () => (img.dataset.decoded = String(img.naturalWidth));
        img.onerror = () => (img.dataset.error = "not decoded");
        box.append(img);
      }
    } else if (MODEL_KINDS.has(s.kind) && s.asset_url) {
      const mv = el("model-viewer", {
        class: "output-model",
        src: s.asset_url,
        alt: `${s.kind} model`,
        "camera-controls": "",
        "auto-rotate": "",
        "shadow-intensity": "1",
      });
      // The browser test (and a developer) can tell a loaded model from a broken one.
      mv.addEventListener("load", () => (mv.dataset.loaded = "true"));
      mv.addEventListener("error", (e: Event) => {
        const detail = "detail" in e ? (e.detail as { type?: string } | null) : null;
        mv.dataset.error = String(detail?.type ?? "error");
      });
      const out = s.outputs[0];
      const use = el("button", { type: "button", class: "small" }, "use for refine / convert");
      use.onclick = () =>
        opts.onUseModel(
          `${m3d.supabaseUrl}/storage/v1/object/authenticated/${out.bucket}/${out.path}`,
        );
      box.append(mv, el("p", {}, use, " ", el("a", { href: s.asset_url, download: "" }, "GLB")));
      if (s.conversions.length) box.append(el("p", { class: "meta conversions" }));
      showConversions(c, s.conversions);
    } else {
      for (const url of s.asset_urls) {
        const name = new URL(url).pathname.split("/").pop() ?? "output";
        box.append(el("p", {}, el("a", { href: url, download: "" }, `download ${name}`)));
      }
    }
  }

  function showConversions(c: Card, list: TaskStatus["conversions"]) {
    const p = c.root.querySelector(".conversions");
    if (p) p.textContent = `conversions: ${list.map((x) => `${x.format} ${x.status}`).join(", ")}`;
  }

  /** A chained conversion ended: its model's card lists the conversions' states anew. */
  function conversionEnded(v: JobView) {
    const source = v.source_task_id ? cards.get(v.source_task_id) : undefined;
    if (!source) return;
    m3d.status(source.view.task_id).then((s) => showConversions(source, s.conversions))
      .catch(() => {});
  }

  /** Applies a job's state unless the card already holds a newer one. */
  function apply(v: JobView | TaskStatus) {
    const known = cards.get(v.task_id);
    if (known && known.view.seq > v.seq) return;
    const c = card(v);
    c.view = v;
    render(c);
    if (isTerminal(v) && !c.finished) {
      c.finished = true;
      if (v.kind === "convert_model") conversionEnded(v);
      const s = "asset_urls" in v ? Promise.resolve(v) : m3d.status(v.task_id);
      s.then((st) => showOutputs(c, st)).catch((e) => {
        c.finished = false;
        c.root.querySelector(".outputs")?.replaceChildren(
          el("p", { class: "error" }, describe(e).text),
        );
      });
    }
  }

  async function refresh(jobId: string) {
    try {
      apply(await m3d.status(jobId));
    } catch (e) {
      if (describe(e).code === "not_found") {
        cards.get(jobId)?.root.remove();
        cards.delete(jobId);
        remember();
      }
    }
  }

  return {
    /** A job the page just started (or restored): read once, then kept live by events. */
    track: (jobId: string) => refresh(jobId),

    async start(userId: string, token: string) {
      storageKey = `m3d-console-jobs:${userId}`;
      const saved: string[] = JSON.parse(localStorage.getItem(storageKey) ?? "[]");
      supabase.realtime.setAuth(token);
      channel = supabase.channel(`user:${userId}:jobs`, { config: { private: true } })
        .on("broadcast", { event: "job" }, (msg) => apply(msg.payload as JobView))
        .subscribe((status, err) => {
          live.dataset.realtime = status;
          live.textContent = `live: ${status.toLowerCase()}${err ? ` (${err.message})` : ""}`;
          if (status === "SUBSCRIBED") {
            // Subscribe, then fetch: whatever ended meanwhile is read here.
            for (const [id, c] of cards) if (!isTerminal(c.view)) void refresh(id);
          }
        });
      await Promise.all(saved.slice(-30).map(refresh));
    },

    async stop() {
      if (channel) await supabase.removeChannel(channel);
      channel = null;
      cards.clear();
      root.replaceChildren();
      storageKey = "";
    },
  };
}
