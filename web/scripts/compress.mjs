// After `vite build`: writes a gzip copy (`<file>.gz`) next to every compressible file in
// dist/ that gets smaller by it. The `web` Spin component embeds both and answers with the
// gzip copy when the browser accepts it (no compression work per request in the component).
import { readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, constants } from "node:zlib";

const COMPRESSIBLE = /\.(js|mjs|css|html|json|svg|txt|map|wasm)$/;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const dist = new URL("../dist/", import.meta.url).pathname;
let saved = 0;
for (const path of walk(dist)) {
  if (!COMPRESSIBLE.test(path)) continue;
  const raw = readFileSync(path);
  const gz = gzipSync(raw, { level: constants.Z_BEST_COMPRESSION });
  if (gz.length + 512 < raw.length) {
    writeFileSync(`${path}.gz`, gz);
    saved += raw.length - gz.length;
  }
}
console.log(`gzip copies written; ${Math.round(saved / 1024)} KiB saved over the wire`);
