/// <reference lib="dom" />
// The developer console (served at /console by the local stack, bundled by localstack/console.ts):
// sign up or in with supabase-js and the publishable key, upload inputs, start every job kind
// through the typed client, watch the jobs live, and for operators the queue and failures.
import "@google/model-viewer";
import { createClient, type Session } from "@supabase/supabase-js";
import { MakeIt3D } from "./client.ts";
import { byId, describe, el } from "./dom.ts";
import { bodyOf, type InputKind, KINDS, renderFields, start } from "./forms.ts";
import { createJobList } from "./jobs.ts";
import { isOperator, loadOps } from "./ops.ts";

// model-viewer's decoders come from this origin (localstack/console.ts), never its CDN defaults:
// every <model-viewer> reads these from `self.ModelViewerElement` when it is created (its meshopt
// decoder is bundled, and fetches nothing while no location is set). Lottie
// textures would need three's loader as a module graph: not offered here (and never a CDN).
const vendor = (p: string) => new URL(`vendor/${p}`, location.href).href;
Object.assign(globalThis, {
  ModelViewerElement: {
    dracoDecoderLocation: vendor("draco/"),
    ktx2TranscoderLocation: vendor("basis/"),
    lottieLoaderLocation: vendor("lottie-loader-not-served.js"),
  },
});

const config: { url: string; publishableKey: string } = await (await fetch("config.json")).json();
const supabase = createClient(config.url, config.publishableKey, {
  auth: { storageKey: "m3d-console-auth", persistSession: true, autoRefreshToken: true },
});
const functionsUrl = `${config.url}/functions/v1`;
const m3d = new MakeIt3D({ supabase, functionsUrl });
const inputs: Partial<Record<InputKind, string>> = {};

function say(id: string, text: string, code = "") {
  const p = byId(id);
  p.textContent = text;
  p.dataset.code = code;
}

// --- tabs -----------------------------------------------------------------------------------
function showTab(name: string) {
  for (const t of document.querySelectorAll<HTMLElement>("[data-tab]")) {
    t.hidden = t.dataset.tab !== name;
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>("[data-show]")) {
    b.classList.toggle("active", b.dataset.show === name);
  }
  if (name === "operator") void refreshOps();
}
for (const b of document.querySelectorAll<HTMLButtonElement>("[data-show]")) {
  b.onclick = () => showTab(b.dataset.show!);
}

async function refreshOps() {
  const { data } = await supabase.auth.getSession();
  if (data.session) await loadOps(functionsUrl, data.session.access_token, byId("ops"));
}
byId("ops-refresh").onclick = () => void refreshOps();

// --- auth -----------------------------------------------------------------------------------
const authForm = byId<HTMLFormElement>("auth-form");
async function auth(kind: "up" | "in") {
  const data = new FormData(authForm);
  const creds = { email: String(data.get("email")), password: String(data.get("password")) };
  const { error } = kind === "up"
    ? await supabase.auth.signUp(creds)
    : await supabase.auth.signInWithPassword(creds);
  say("auth-msg", error ? error.message : "", error?.code ?? "");
}
byId("sign-up").onclick = () => void auth("up");
authForm.onsubmit = (e) => {
  e.preventDefault();
  void auth("in");
};
byId("sign-out").onclick = () => void supabase.auth.signOut();
// app_metadata changes (an operator flag set with the secret key) arrive with a new token.
byId("reload-claims").onclick = () => void supabase.auth.refreshSession();

// --- jobs -----------------------------------------------------------------------------------
const jobs = createJobList({
  root: byId("jobs"),
  live: byId("live"),
  m3d,
  supabase,
  onUseModel: (url) => {
    inputs.model = url;
    kindSelect.value = "refine_model";
    renderForm();
    byId("job-form").scrollIntoView();
  },
});

const kindSelect = byId<HTMLSelectElement>("kind");
for (const [k, v] of Object.entries(KINDS)) kindSelect.append(el("option", { value: k }, v.label));
function renderForm() {
  byId("job-fields").replaceChildren(renderFields(KINDS[kindSelect.value], inputs));
}
kindSelect.onchange = renderForm;
renderForm();

byId<HTMLFormElement>("job-form").onsubmit = async (e) => {
  e.preventDefault();
  const kind = KINDS[kindSelect.value];
  say("job-msg", "starting…");
  try {
    const body = bodyOf(kind, e.target as HTMLFormElement);
    const accepted = await start(m3d, kind, body);
    say("job-msg", `accepted: job ${accepted.job_id}`, "accepted");
    // A fresh task_id for the next one; the rest of the form stays as it was.
    const next = (e.target as HTMLFormElement).elements.namedItem("task_id");
    if (next instanceof HTMLInputElement) next.value = `console-${crypto.randomUUID().slice(0, 8)}`;
    await jobs.track(accepted.job_id);
    void refreshCredits();
  } catch (err) {
    const d = describe(err);
    say("job-msg", d.text, d.code);
  }
};

// --- uploads --------------------------------------------------------------------------------
byId<HTMLFormElement>("upload-form").onsubmit = async (e) => {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const file = (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
  const kind = (form.elements.namedItem("upload-kind") as HTMLSelectElement).value as InputKind;
  if (!file) return say("upload-msg", "Choose a file first.", "no_file");
  const glb = file.name.toLowerCase().endsWith(".glb");
  const contentType = glb ? "model/gltf-binary" : file.type || "application/octet-stream";
  say("upload-msg", "uploading…");
  try {
    const safe = file.name.replace(/[^A-Za-z0-9._-]/g, "_").slice(-80);
    const url = await m3d.uploadInput(file, {
      kind,
      contentType,
      name: `${crypto.randomUUID().slice(0, 8)}-${safe}`,
    });
    inputs[kind] = url;
    const preview = glb
      ? el("model-viewer", { src: URL.createObjectURL(file), "camera-controls": "" })
      : el("img", { src: URL.createObjectURL(file), alt: file.name });
    byId("uploads").prepend(
      el("li", { "data-kind": kind }, preview, el("code", {}, url)),
    );
    say("upload-msg", `uploaded as ${kind}; the job form uses it`, "uploaded");
    renderForm();
  } catch (err) {
    const d = describe(err);
    say("upload-msg", d.text, d.code);
  }
};

async function refreshCredits() {
  try {
    const c = await m3d.credits();
    byId("credits").textContent = `credits: ${c.available} available`;
  } catch {
    byId("credits").textContent = "";
  }
}

// --- session --------------------------------------------------------------------------------
let current: string | null = null;
async function onSession(session: Session | null) {
  const uid = session?.user.id ?? null;
  document.body.dataset.signedIn = String(Boolean(session));
  byId("who").textContent = session ? session.user.email ?? session.user.id : "";
  const op = isOperator(session);
  byId("tab-operator").hidden = !op;
  document.body.dataset.operator = String(op);
  if (session) supabase.realtime.setAuth(session.access_token);
  if (uid === current) return;
  await jobs.stop();
  current = uid;
  if (session && uid) {
    await jobs.start(uid, session.access_token);
    void refreshCredits();
  }
  showTab("jobs");
}
supabase.auth.onAuthStateChange((_event, session) => {
  // Not awaited inside the callback: supabase-js holds its auth lock while it runs.
  setTimeout(() => void onSession(session), 0);
});
document.body.dataset.ready = "true";
