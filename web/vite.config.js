// Vite builds the playground into dist/, which the `web` Spin component embeds at compile
// time. Hashed files go to dist/assets/ (served as immutable); index.html is served no-cache.
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    // xterm and CodeMirror are the bulk; keep them in their own chunk so app changes do not
    // invalidate the cached libraries.
    rollupOptions: {
      output: {
        manualChunks: {
          xterm: ["@xterm/xterm", "@xterm/addon-fit"],
          codemirror: [
            "@codemirror/state",
            "@codemirror/view",
            "@codemirror/commands",
            "@codemirror/language",
            "@codemirror/lang-python",
            "@codemirror/lang-javascript",
          ],
        },
      },
    },
  },
  server: {
    // `npm run dev`: the REST API of a running stack (scripts/up) behind the dev server.
    proxy: { "/api": "http://127.0.0.1:3000", "/config.json": "http://127.0.0.1:3000" },
  },
});
