// Bundles src/main.js (with uPlot) and src/style.css into ONE self-contained
// HTML file (no CDN, no network at run time). Usage: node build.mjs OUT.html
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist", "index.html");
const res = await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true, minify: true, format: "iife", target: ["es2019"],
  write: false, outdir: "out", loader: { ".css": "css" }, logLevel: "error",
});
let js = "", css = readFileSync(join(here, "src", "style.css"), "utf8");
for (const f of res.outputFiles) {
  if (f.path.endsWith(".js")) js += f.text;
  else if (f.path.endsWith(".css")) css = f.text + "\n" + css;
}
const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("/*__CSS__*/", () => css.replace(/<\/style/gi, "<\\/style"))
  .replace("/*__JS__*/", () => js.replace(/<\/script/gi, "<\\/script"));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, html);
console.log(`dashboard: ${out} (${html.length} bytes)`);
