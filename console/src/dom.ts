/// <reference lib="dom" />
// Small DOM helpers of the console (no framework: the page is a tool, not an app).

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from index.html`);
  return e as T;
}

/** A table of rows under the given columns ("—" for null). */
export function table(columns: string[], rows: Record<string, unknown>[]): HTMLTableElement {
  const t = el("table");
  t.append(el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", {}, c)))));
  const body = el("tbody");
  for (const r of rows) {
    body.append(el("tr", {}, ...columns.map((c) => el("td", {}, String(r[c] ?? "—")))));
  }
  if (rows.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: String(columns.length) }, "nothing yet")));
  }
  t.append(body);
  return t;
}

/** A user-facing line for any error (the BFF's code and message, never a stack). */
export function describe(e: unknown): { text: string; code: string } {
  if (e && typeof e === "object" && "code" in e && "status" in e) {
    const a = e as { code: string; status: number; message: string; details?: unknown };
    const details = a.details === undefined ? "" : ` ${JSON.stringify(a.details)}`;
    return { text: `${a.status} ${a.code}: ${a.message}${details}`, code: a.code };
  }
  return { text: e instanceof Error ? e.message : String(e), code: "error" };
}
