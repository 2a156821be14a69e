/// <reference lib="dom" />
// Every job kind the BFF starts, with its options as form fields (the names are the request
// body's, supabase/functions/_shared/jobs/schemas.ts), and the body a filled form makes.
// Empty fields are left out, so the BFF's defaults apply; "Extra JSON" reaches anything else.
import type {
  Accepted,
  ConvertFormat,
  ConvertModelBody,
  ImageToImageBody,
  ImageToModelBody,
  MakeIt3D,
  TextToModelBody,
} from "./client.ts";
import { el } from "./dom.ts";

export type InputKind = "image" | "sketch" | "model";
type FieldType = "text" | "textarea" | "int" | "number" | "select" | "bool" | "url" | "formats";
export interface Field {
  name: string;
  type: FieldType;
  label?: string;
  options?: readonly string[];
  required?: boolean;
  /** Filled in with the last upload (or model output) of this kind. */
  input?: InputKind;
}
export interface Kind {
  label: string;
  method: keyof Pick<
    MakeIt3D,
    | "textToModel"
    | "imageToModel"
    | "sketchToModel"
    | "refineModel"
    | "imageToImage"
    | "textToImage"
    | "convertModel"
  >;
  fields: Field[];
}

/**
 * A select of every value the request body `B` takes for `name`, checked by the compiler against
 * the types generated from openapi.json: a value the API refuses, or one it takes that is missing
 * here, does not compile (the lists cannot drift from the schemas).
 */
const choices = <B>() =>
<K extends keyof B & string, const V extends readonly NonNullable<B[K]>[]>(
  name: K,
  options: V & AllOf<NonNullable<B[K]>, V[number]>,
  required = false,
): Field => select(name, options.map(String), required);
type AllOf<T, Listed> = [Exclude<T, Listed>] extends [never] ? unknown
  : { missing: Exclude<T, Listed> };
const allOf = <T>() => <const V extends readonly T[]>(v: V & AllOf<T, V[number]>): V => v;

const FORMATS = allOf<ConvertFormat>()(["GLTF", "USDZ", "FBX", "OBJ", "STL", "3MF"]);
const bool = (name: string): Field => ({ name, type: "bool" });
const int = (name: string): Field => ({ name, type: "int" });
const select = (name: string, options: readonly string[], required = false): Field => ({
  name,
  type: "select",
  options,
  required,
});

const modelChoice = choices<TextToModelBody>();
const MODEL_OPTIONS: Field[] = [
  modelChoice("style", [
    "person:person2cartoon",
    "animal:venom",
    "object:clay",
    "object:steampunk",
    "object:christmas",
    "object:barbie",
    "gold",
    "ancient_bronze",
  ]),
  bool("texture"),
  bool("pbr"),
  modelChoice("texture_quality", ["standard", "detailed"]),
  int("face_limit"),
  { name: "model_version", type: "text" },
  bool("auto_size"),
  int("model_seed"),
  int("texture_seed"),
];
const IMAGE_MODEL_OPTIONS: Field[] = [
  ...MODEL_OPTIONS,
  choices<ImageToModelBody>()("orientation", ["default", "align_image"]),
  choices<ImageToModelBody>()("texture_alignment", ["original_image", "geometry"]),
];
const OUTPUT_FORMATS: Field = { name: "output_formats", type: "formats", label: "also convert to" };
const IMAGE_OPTIONS: Field[] = [
  { name: "style", type: "text" },
  select("n", ["1", "2", "3", "4"]),
  choices<ImageToImageBody>()("background", ["transparent", "opaque", "auto"]),
  choices<ImageToImageBody>()("size", ["1024x1024", "1536x1024", "1024x1536", "auto"]),
  choices<ImageToImageBody>()("quality", ["low", "medium", "high", "auto"]),
];
const PROMPT: Field = { name: "prompt", type: "textarea", required: true };

const convertChoice = choices<ConvertModelBody>();

export const KINDS: Record<string, Kind> = {
  text_to_model: {
    label: "Text → 3D model",
    method: "textToModel",
    fields: [
      PROMPT,
      { name: "negative_prompt", type: "text" },
      ...MODEL_OPTIONS,
      int("image_seed"),
      OUTPUT_FORMATS,
    ],
  },
  image_to_model: {
    label: "Image(s) → 3D model",
    method: "imageToModel",
    fields: [
      {
        name: "input_image_asset_urls",
        type: "url",
        label: "input_image_asset_urls (one per line, 1–4)",
        required: true,
        input: "image",
      },
      ...IMAGE_MODEL_OPTIONS,
      OUTPUT_FORMATS,
    ],
  },
  sketch_to_model: {
    label: "Sketch → 3D model",
    method: "sketchToModel",
    fields: [
      { name: "input_sketch_asset_url", type: "url", required: true, input: "sketch" },
      ...IMAGE_MODEL_OPTIONS,
      OUTPUT_FORMATS,
    ],
  },
  refine_model: {
    label: "Refine a model",
    method: "refineModel",
    fields: [
      { name: "input_model_asset_url", type: "url", required: true, input: "model" },
      { name: "draft_model_task_id", type: "text" },
      OUTPUT_FORMATS,
    ],
  },
  image_to_image: {
    label: "Image → concepts (2D)",
    method: "imageToImage",
    fields: [
      PROMPT,
      { name: "input_image_asset_url", type: "url", required: true, input: "image" },
      ...IMAGE_OPTIONS,
    ],
  },
  text_to_image: {
    label: "Text → concepts (2D)",
    method: "textToImage",
    fields: [PROMPT, ...IMAGE_OPTIONS],
  },
  convert_model: {
    label: "Convert a model",
    method: "convertModel",
    fields: [
      { name: "input_model_asset_url", type: "url", required: true, input: "model" },
      convertChoice("format", FORMATS, true),
      bool("quad"),
      bool("force_symmetry"),
      int("face_limit"),
      bool("flatten_bottom"),
      { name: "flatten_bottom_threshold", type: "number" },
      int("texture_size"),
      convertChoice("texture_format", [
        "BMP",
        "DPX",
        "HDR",
        "JPEG",
        "OPEN_EXR",
        "PNG",
        "TARGA",
        "TIFF",
        "WEBP",
      ]),
      bool("pivot_to_center_bottom"),
      { name: "scale_factor", type: "number" },
      bool("with_animation"),
      bool("pack_uv"),
      bool("bake"),
      bool("animate_in_place"),
      bool("export_vertex_colors"),
      convertChoice("export_orientation", ["+x", "-x", "+y", "-y"]),
      convertChoice("fbx_preset", ["blender", "3dsmax", "mixamo"]),
    ],
  },
};

/** The form controls of `kind`, with URL fields preset from `inputs`. */
export function renderFields(
  kind: Kind,
  inputs: Partial<Record<InputKind, string>>,
): HTMLElement {
  const box = el("div", { class: "fields" });
  box.append(field(
    "task_id",
    el("input", {
      name: "task_id",
      value: `console-${crypto.randomUUID().slice(0, 8)}`,
      required: "",
    }),
  ));
  for (const f of kind.fields) {
    let control: HTMLElement;
    const req: Record<string, string> = f.required ? { required: "" } : {};
    switch (f.type) {
      case "textarea":
        control = el("textarea", { name: f.name, rows: "2", ...req });
        break;
      case "select":
      case "bool": {
        const opts = f.type === "bool" ? ["true", "false"] : f.options ?? [];
        const s = el("select", { name: f.name, ...req });
        s.append(el("option", { value: "" }, f.required ? "choose…" : "(default)"));
        for (const o of opts) s.append(el("option", { value: o }, o));
        control = s;
        break;
      }
      case "formats": {
        control = el("span", { class: "formats", "data-name": f.name });
        for (const fmt of FORMATS) {
          control.append(
            el("label", {}, el("input", { type: "checkbox", name: f.name, value: fmt }), fmt),
          );
        }
        break;
      }
      case "url":
        control = f.name.endsWith("_urls")
          ? el("textarea", { name: f.name, rows: "2", ...req }, inputs[f.input!] ?? "")
          : el("input", { name: f.name, value: inputs[f.input!] ?? "", ...req });
        break;
      default:
        control = el("input", {
          name: f.name,
          ...(f.type === "int" || f.type === "number"
            ? { type: "number", step: f.type === "int" ? "1" : "any" }
            : {}) as Record<string, string>,
          ...req,
        });
    }
    box.append(field(f.label ?? f.name, control));
  }
  box.append(
    field("extra JSON", el("textarea", { name: "__extra", rows: "2", placeholder: "{}" })),
  );
  return box;
}

function field(label: string, control: HTMLElement): HTMLElement {
  return el("label", { class: "field" }, el("span", {}, label), control);
}

/** The request body a filled form makes (a user error as an Error with a plain message). */
export function bodyOf(kind: Kind, form: HTMLFormElement): Record<string, unknown> {
  const data = new FormData(form);
  const body: Record<string, unknown> = { task_id: String(data.get("task_id") ?? "").trim() };
  for (const f of kind.fields) {
    if (f.type === "formats") {
      const picked = data.getAll(f.name).map(String);
      if (picked.length) body[f.name] = picked;
      continue;
    }
    const raw = String(data.get(f.name) ?? "").trim();
    if (raw === "") continue;
    if (f.type === "int" || f.type === "number") body[f.name] = Number(raw);
    else if (f.type === "bool") body[f.name] = raw === "true";
    else if (f.name === "n") body[f.name] = Number(raw);
    else if (f.name.endsWith("_urls")) body[f.name] = raw.split(/\s+/).filter(Boolean);
    else body[f.name] = raw;
  }
  const extra = String(data.get("__extra") ?? "").trim();
  if (extra) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(extra);
    } catch {
      throw new Error("Extra JSON is not valid JSON.");
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("Extra JSON must be an object.");
    }
    Object.assign(body, parsed);
  }
  return body;
}

/** Starts a job of `kind` through the typed client (the BFF validates the body again). */
export function start(m3d: MakeIt3D, kind: Kind, body: Record<string, unknown>): Promise<Accepted> {
  type Arg<M extends Kind["method"]> = Parameters<MakeIt3D[M]>[0];
  switch (kind.method) {
    case "textToModel":
      return m3d.textToModel(body as Arg<"textToModel">);
    case "imageToModel":
      return m3d.imageToModel(body as Arg<"imageToModel">);
    case "sketchToModel":
      return m3d.sketchToModel(body as Arg<"sketchToModel">);
    case "refineModel":
      return m3d.refineModel(body as Arg<"refineModel">);
    case "imageToImage":
      return m3d.imageToImage(body as Arg<"imageToImage">);
    case "textToImage":
      return m3d.textToImage(body as Arg<"textToImage">);
    case "convertModel":
      return m3d.convertModel(body as Arg<"convertModel">);
  }
}
