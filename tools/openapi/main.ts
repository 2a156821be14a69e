// `npm run openapi`: writes openapi.json at the repository root from the zod schemas.
// tests/unit/openapi.test.ts fails when the checked-in file differs from what this writes.
import { renderDocument } from "./document.ts";

const target = new URL("../../openapi.json", import.meta.url);
const text = renderDocument();
const before = await Deno.readTextFile(target).catch(() => "");
if (before === text) {
  console.log("openapi.json is up to date");
} else {
  await Deno.writeTextFile(target, text);
  console.log(`wrote openapi.json (${text.length} bytes)`);
}
