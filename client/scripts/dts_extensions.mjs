// Build step after tsc: the declaration files keep the source's `./x.ts` import specifiers (tsc
// rewrites them to `.js` in the JavaScript only), which TypeScript before 5.7 and other tools
// reading .d.ts files may not resolve. Rewritten to `./x.js`, as the JavaScript has them.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function* declarations(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* declarations(p);
    else if (name.endsWith(".d.ts")) yield p;
  }
}

const dist = new URL("../dist", import.meta.url).pathname;
for (const file of declarations(dist)) {
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(/(from\s+["']\.{1,2}\/[^"']+)\.ts(["'])/g, "$1.js$2")
    .replace(/(import\(["']\.{1,2}\/[^"']+)\.ts(["']\))/g, "$1.js$2");
  if (fixed !== text) writeFileSync(file, fixed);
}
