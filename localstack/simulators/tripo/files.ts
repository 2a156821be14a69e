// Output files: a finished task's short-lived URLs (`/files/{token}/{name}`, no auth), and their
// downloads: a GLB, a PNG, or a convert_model file of its format; 403 once the URL's TTL is over.
import { modelLayout } from "../formats/layout.ts";
import { segmentStream } from "../formats/segments.ts";
import { glbStream } from "../glb.ts";
import { makePng } from "../images.ts";
import type { SimFault } from "../mod.ts";
import type { OutFile, TripoState } from "./state.ts";

export function mintFile(
  s: TripoState,
  taskId: string,
  kind: OutFile["kind"],
  size: number,
  name: string,
): string {
  if (s.files.size > 20000) {
    const now = Date.now();
    for (const [k, f] of s.files) if (f.expiresMs < now) s.files.delete(k);
  }
  const token = crypto.randomUUID().replaceAll("-", "");
  s.files.set(token, { taskId, kind, size, expiresMs: Date.now() + s.config.outputTtlSec * 1000 });
  const exp = Math.floor((Date.now() + s.config.outputTtlSec * 1000) / 1000);
  return `${s.publicUrl}/files/${token}/${name}?Expires=${exp}&Signature=sim`;
}

export function download(
  s: TripoState,
  req: Request,
  token: string,
  fault: SimFault | undefined,
): Response {
  s.stats.downloads++;
  const f = s.files.get(token);
  if (!f) return new Response("Not Found", { status: 404 });
  if (Date.now() > f.expiresMs) {
    return new Response(
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>' +
        "<Message>Request has expired</Message></Error>",
      { status: 403, headers: { "content-type": "application/xml" } },
    );
  }
  if (f.kind === "png") {
    const png = makePng(64, 64, 7);
    return new Response(req.method === "HEAD" ? null : png, {
      headers: { "content-type": "image/png", "content-length": String(png.length) },
    });
  }
  if (f.kind !== "glb") {
    const layout = modelLayout(f.kind, f.size);
    const headers = {
      "content-type": layout.contentType,
      "content-length": String(layout.total),
    };
    if (req.method === "HEAD") return new Response(null, { headers });
    const cut = fault?.kind === "truncate"
      ? fault.truncateAt ?? Math.floor(layout.total / 2)
      : undefined;
    return new Response(segmentStream(layout.segments, { truncateAt: cut }), { headers });
  }
  const truncateAt = fault?.kind === "truncate"
    ? fault.truncateAt ?? Math.floor(f.size / 2)
    : undefined;
  const { stream, length } = glbStream(f.size, { truncateAt });
  if (req.method === "HEAD") {
    void stream.cancel();
    return new Response(null, {
      headers: { "content-type": "model/gltf-binary", "content-length": String(length) },
    });
  }
  return new Response(stream, {
    headers: { "content-type": "model/gltf-binary", "content-length": String(length) },
  });
}
