#!/usr/bin/env node
// Browser test of the playground against a running stack: a real Chromium (headless) driven by
// playwright-core. Each step is reported as PASS / FAIL / SKIP (a step whose prerequisite
// failed); the exit status is 1 when any step failed.
//
// Environment:
//   BASE_URL       the api-host serving spin.toml (default http://127.0.0.1:3000)
//   BRIDGE_URL     the terminal-bridge WebSocket URL the page should use (e.g.
//                  ws://127.0.0.1:8001/ws); unset: whatever the stack's /config.json says
//   ARTIFACTS_DIR  screenshots and the browser log (default <repo>/target/playwright)
//   CHROMIUM       the browser binary (default /usr/bin/chromium)
//   STEP_TIMEOUT_MS  per-step wait (default 20000; terminal steps get twice that)
//
// Run: (cd web && npm ci) && BASE_URL=http://127.0.0.1:3000 node web/e2e/playground.mjs

import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BASE_URL = (process.env.BASE_URL ?? "http://127.0.0.1:3000").replace(/\/$/, "");
const BRIDGE_URL = process.env.BRIDGE_URL || null;
const ARTIFACTS = resolve(process.env.ARTIFACTS_DIR ?? join(repo, "target/playwright"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT = Number(process.env.STEP_TIMEOUT_MS ?? 20000);
const TERMINAL_TIMEOUT = TIMEOUT * 2;

mkdirSync(ARTIFACTS, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "playground-chromium-"));
const browserLog = [];
/** Log lines without bearer tokens (the bridge URL carries one). */
const logLine = (line) => browserLog.push(line.replace(/cep_[A-Za-z0-9_-]{20,}/g, "cep_…"));
const results = [];
const stamp = Date.now().toString(36);
const state = { token: null, sessionId: null };

/** Runs `fn` as step `name` unless one of `needs` did not pass. */
async function step(name, needs, fn) {
  const blocked = needs.filter((n) => results.find((r) => r.name === n)?.status !== "PASS");
  if (blocked.length > 0) {
    results.push({ name, status: "SKIP", detail: `needs: ${blocked.join(", ")}` });
    console.log(`SKIP  ${name} (needs: ${blocked.join(", ")})`);
    return;
  }
  const started = Date.now();
  try {
    await fn();
    results.push({ name, status: "PASS", detail: `${Date.now() - started} ms` });
    console.log(`PASS  ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    const detail = (e?.message ?? String(e)).split("\n").slice(0, 6).join("\n      ");
    results.push({ name, status: "FAIL", detail });
    console.log(`FAIL  ${name}\n      ${detail}`);
    await shot(`FAILED-${name.replace(/\W+/g, "-")}`).catch(() => {});
  }
}

let page;
async function shot(name) {
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Waits until `fn` returns a truthy value (polled), or fails with `what`. */
async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last: ${String(last).slice(0, 300)})` : ""}`);
}

/** A REST call with the page's token, from the test (not through the UI). */
async function rest(method, path, { body, headers = {} } = {}) {
  const resp = await fetch(BASE_URL + path, {
    method,
    headers: {
      Authorization: `Bearer ${state.token}`,
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: resp.status, json, text };
}

const activeTerminal = () => page.locator(".term-pane:not([hidden])");
const terminalText = async () => (await activeTerminal().locator(".xterm-rows").innerText()).replace(/\u00a0/g, " ");

async function typeInTerminal(line) {
  await activeTerminal().click();
  await page.keyboard.type(line, { delay: 5 });
  await page.keyboard.press("Enter");
}

async function editorText() {
  return page.locator(".cm-content").innerText();
}

async function replaceEditorText(text) {
  await page.locator(".cm-content").click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(text);
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1280, height: 800 },
  acceptDownloads: true,
});
page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(TIMEOUT);
page.on("console", (m) => logLine(`[console.${m.type()}] ${m.text()}`));
page.on("pageerror", (e) => logLine(`[pageerror] ${e.message}`));
page.on("requestfailed", (r) => logLine(`[requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
page.on("websocket", (ws) => {
  logLine(`[websocket] open ${ws.url()}`);
  ws.on("close", () => logLine("[websocket] closed"));
  ws.on("socketerror", (e) => logLine(`[websocket] error ${e}`));
});
// Every bridge WebSocket goes through Playwright (passed through unchanged), so the
// reconnect step can cut the connection as a network drop would.
const bridgeSockets = [];
await context.routeWebSocket(
  (url) => url.protocol === "ws:" || url.protocol === "wss:",
  (ws) => {
    const server = ws.connectToServer();
    bridgeSockets.push({ ws, server });
  },
);
if (BRIDGE_URL) {
  await context.route("**/config.json", (route) =>
    route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify({ bridgeUrl: BRIDGE_URL }) }),
  );
}

const username = `e2e_${stamp}`;
const password = `pw-${stamp}-secret`;
const fileName = "hello.py";
const savedLine = `print("saved from the editor ${stamp}")`;

try {
  await step("page loads", [], async () => {
    const resp = await page.goto(BASE_URL + "/");
    if (!resp?.ok()) throw new Error(`GET / answered ${resp?.status()}`);
    await page.locator("form.auth").waitFor();
  });

  await step("register and log in", ["page loads"], async () => {
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(password);
    await page.getByRole("button", { name: "Register" }).click();
    await page.getByRole("heading", { name: "Sessions" }).waitFor();
    state.token = await page.evaluate(() => localStorage.getItem("cep.token"));
    if (!state.token?.startsWith("cep_")) throw new Error(`no token in localStorage: ${state.token}`);
    const me = await rest("GET", "/api/users/me");
    if (me.json?.username !== username) throw new Error(`/api/users/me answered ${me.status} ${me.text}`);
    await shot("01-sessions");
  });

  await step("create a session", ["register and log in"], async () => {
    await page.getByLabel("Session name").fill(`e2e session ${stamp}`);
    await page.getByRole("button", { name: "New session" }).click();
    await page.waitForURL(/#\/s\/[0-9a-f-]{36}$/);
    state.sessionId = page.url().split("#/s/")[1];
    await page.locator(".pane-files .file-tools").waitFor();
    const list = await rest("GET", "/api/sessions/");
    if (!list.json?.sessions?.some((s) => s.id === state.sessionId)) throw new Error(`the session is not listed: ${list.text}`);
    await shot("02-workspace");
  });

  await step("editor: create, edit and save a file", ["create a session"], async () => {
    await page.getByLabel("New file path").fill(fileName);
    await page.getByRole("button", { name: "Create" }).click();
    await page.locator(`.tree [data-path="${fileName}"]`).waitFor();
    await until("the editor to open the new file", async () => (await page.locator(".editor-title").innerText()).startsWith(fileName));
    await replaceEditorText('print("first draft")');
    await page.keyboard.press("Control+S");
    await until("the save to be acknowledged", async () => /Saved, version \d+/.test(await page.locator(".editor-status").innerText()));
    const title = await page.locator(".editor-title").innerText();
    if (title !== fileName) throw new Error(`the title still says ${title} after the save`);
    const file = await rest("GET", `/api/workspace/${state.sessionId}/file/${fileName}`);
    if (file.json?.content !== 'print("first draft")') throw new Error(`the server has ${file.text}`);
  });

  await step("editor: a stale save shows a conflict and reload fetches the server's text", ["editor: create, edit and save a file"], async () => {
    await page.locator(".cm-content").click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("\n# local edit");
    const server = `print("changed elsewhere ${stamp}")`;
    const put = await rest("PUT", `/api/workspace/${state.sessionId}/file/${fileName}`, { body: { content: server } });
    if (put.status !== 200) throw new Error(`PUT over REST answered ${put.status} ${put.text}`);
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.locator(".banner", { hasText: "Conflict" }).waitFor();
    await shot("03-conflict");
    await page.locator(".banner").getByRole("button", { name: "Reload" }).click();
    await until("the editor to show the server's text", async () => (await editorText()).includes(server));
    await replaceEditorText(savedLine);
    await page.keyboard.press("Control+S");
    await until("the save after reload", async () => /Saved, version \d+/.test(await page.locator(".editor-status").innerText()));
    const file = await rest("GET", `/api/workspace/${state.sessionId}/file/${fileName}`);
    if (file.json?.content !== savedLine) throw new Error(`the server has ${file.text}`);
  });

  await step("upload a file (multipart)", ["create a session"], async () => {
    await page.locator(".file-tools input[type=file]").setInputFiles({
      name: "uploaded.txt",
      mimeType: "text/plain",
      buffer: Buffer.from(`uploaded ${stamp}\n`),
    });
    await until("uploaded.txt in the tree", async () => (await page.locator('.tree [data-path="uploaded.txt"]').count()) > 0, TIMEOUT).catch(async (e) => {
      throw new Error(`${e.message}; status bar: ${await page.locator(".statusbar").innerText()}`);
    });
    const file = await rest("GET", `/api/workspace/${state.sessionId}/file/uploaded.txt`);
    if (file.json?.content !== `uploaded ${stamp}\n`) throw new Error(`the server has ${file.status} ${file.text}`);
  });

  await step("download the workspace as a zip", ["editor: create, edit and save a file"], async () => {
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: TIMEOUT }).catch(async () => {
        throw new Error(`no download; status bar: ${await page.locator(".statusbar").innerText()}`);
      }),
      page.getByRole("button", { name: "Download zip" }).click(),
    ]);
    const path = join(ARTIFACTS, "workspace.zip");
    await download.saveAs(path);
    const { readFileSync } = await import("node:fs");
    const bytes = readFileSync(path);
    if (bytes.subarray(0, 2).toString() !== "PK") throw new Error("the download is not a zip");
    if (!bytes.includes(Buffer.from(fileName))) throw new Error(`the zip does not name ${fileName}`);
  });

  await step("terminal connects to the bridge", ["create a session"], async () => {
    const bridge = BRIDGE_URL ?? (await page.evaluate(() => fetch("/config.json").then((r) => r.json()))).bridgeUrl ?? "(default: this host, port 8001, /ws)";
    await until(`the connection indicator to say connected (bridge ${bridge})`, async () => {
      const s = await page.locator(".conn").getAttribute("data-state");
      if (s === "open") return true;
      throw new Error(`indicator: ${await page.locator(".conn").innerText()}`);
    }, TERMINAL_TIMEOUT).catch((e) => {
      const ws = browserLog.filter((l) => /websocket|WebSocket/.test(l)).slice(-3).join("; ");
      throw new Error(`${e.message}${ws ? `\nbrowser: ${ws}` : ""}`);
    });
  });

  await step('terminal: python3 -c "print(6*7)" prints 42', ["terminal connects to the bridge"], async () => {
    await typeInTerminal('python3 -c "print(6*7)"');
    await until("a line reading 42", async () => /^42\s*$/m.test(await terminalText()), TERMINAL_TIMEOUT);
    await shot("04-terminal-42");
  });

  await step("terminal: cat shows the file saved in the editor", ["terminal connects to the bridge", "editor: a stale save shows a conflict and reload fetches the server's text"], async () => {
    await typeInTerminal(`cat ${fileName}`);
    await until(`the terminal to show ${savedLine}`, async () => (await terminalText()).includes(savedLine), TERMINAL_TIMEOUT);
  });

  await step("a file created in the shell appears in the tree (file_changed)", ["terminal connects to the bridge"], async () => {
    await typeInTerminal(`echo hi > shell.txt`);
    await until("shell.txt in the tree without a manual refresh", async () => (await page.locator('.tree [data-path="shell.txt"]').count()) > 0, TERMINAL_TIMEOUT);
    const file = await rest("GET", `/api/workspace/${state.sessionId}/file/shell.txt`);
    if (file.json?.content !== "hi\n") throw new Error(`the server has ${file.status} ${file.text}`);
    await shot("05-shell-file-in-tree");
  });

  await step("a second terminal tab runs its own shell", ["terminal connects to the bridge"], async () => {
    await page.getByRole("button", { name: "New terminal" }).click();
    await until("two terminal tabs", async () => (await page.locator(".tabbar .tab").count()) === 2);
    await typeInTerminal(`echo second-$((20+22))`);
    await until("second-42 in the new tab", async () => (await terminalText()).includes("second-42"), TERMINAL_TIMEOUT);
    await page.locator(".tabbar .tab .tab-label").first().click();
    const first = await terminalText();
    if (first.includes("second-42")) throw new Error("the first tab shows the second tab's output");
  });

  await step("a dropped connection shows reconnecting… and finds the same shell again", ["terminal: python3 -c \"print(6*7)\" prints 42"], async () => {
    const pidOf = async () => {
      const all = [...(await terminalText()).matchAll(/pid-(\d+)/g)];
      return all.length > 0 ? all[all.length - 1][1] : null;
    };
    await page.locator(".tabbar .tab .tab-label").first().click();
    await typeInTerminal("echo pid-$$");
    const before = await until("the shell's pid", pidOf, TERMINAL_TIMEOUT);
    await page.evaluate(() => {
      const el = document.querySelector(".conn");
      window.__connStates = [];
      new MutationObserver(() => window.__connStates.push(el.dataset.state)).observe(el, { attributes: true });
    });
    const open = bridgeSockets.splice(0);
    if (open.length === 0) throw new Error("no bridge WebSocket was routed through the test");
    for (const { ws, server } of open) {
      await ws.close({ code: 4000, reason: "test: network drop" }).catch(() => {});
      await server.close().catch(() => {});
    }
    await until("the indicator to go through reconnecting", async () => (await page.evaluate(() => window.__connStates)).includes("reconnecting"));
    await until("the connection to come back", async () => (await page.locator(".conn").getAttribute("data-state")) === "open", TERMINAL_TIMEOUT);
    // Let the replay (if any) settle, then ask the shell for its pid again.
    await new Promise((r) => setTimeout(r, 1000));
    const count = async () => (await terminalText()).match(/pid-\d+/g)?.length ?? 0;
    const seen = await count();
    await typeInTerminal("echo pid-$$");
    await until(`a new answer from the shell (pid ${before})`, async () => (await count()) > seen, TERMINAL_TIMEOUT);
    const after = await pidOf();
    if (after !== before) throw new Error(`a new shell answered (pid ${after}, was ${before})`);
    await shot("06-after-reconnect");
  });

  await step("phone width (375 px): one pane at a time", ["create a session"], async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.locator(".pane-nav").waitFor({ state: "visible" });
    for (const pane of ["Files", "Editor", "Terminal"]) {
      await page.locator(".pane-nav").getByRole("button", { name: pane }).click();
      const visible = await page.locator(".workspace > .pane:visible").count();
      if (visible !== 1) throw new Error(`${visible} panes visible on the ${pane} tab`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) throw new Error(`the page is ${overflow}px wider than the screen on the ${pane} tab`);
      await shot(`07-narrow-${pane.toLowerCase()}`);
    }
  });
} finally {
  writeFileSync(join(ARTIFACTS, "browser.log"), browserLog.join("\n") + "\n");
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

const failed = results.filter((r) => r.status === "FAIL");
const skipped = results.filter((r) => r.status === "SKIP");
console.log(
  `\n${results.length - failed.length - skipped.length} passed, ${failed.length} failed, ${skipped.length} skipped` +
    ` (screenshots and browser.log in ${ARTIFACTS})`,
);
for (const r of failed) console.log(`  failed: ${r.name}`);
process.exit(failed.length > 0 ? 1 : 0);
