// The workspace page of one session: file tree, editor and terminals, side by side on wide
// screens and one at a time (switched by tabs) at phone width.

import * as api from "./api";
import { Bridge, type ConnectionState, type ServerMessage } from "./bridge";
import { config } from "./config";
import { h, mount } from "./dom";
import { Editor } from "./editor";
import { fileToolbar } from "./files";
import { Terminals } from "./terminals";
import { Tree } from "./tree";

type Pane = "files" | "editor" | "terminal";

/** Renders the workspace into `root`; returns a function that tears it down. */
export async function showWorkspace(root: HTMLElement, sessionId: string, header: HTMLElement): Promise<() => void> {
  const session = await api.getSession(sessionId);
  const readOnly = session.role === "viewer";
  const { bridgeUrl } = await config();
  const bridge = new Bridge(bridgeUrl, api.token() ?? "");

  const conn = h("span", { class: "conn", "data-state": "connecting", "aria-live": "polite" }, "connecting…");
  const sandbox = h("span", { class: "sandbox", title: "Sandbox state" }, session.observed_state ?? session.desired_state);
  const message = h("div", { class: "statusbar", "aria-live": "polite" });
  const report = (text: string, error = false) => {
    message.textContent = text;
    message.classList.toggle("error", error);
  };
  mount(header, h("a", { href: "#/", class: "back" }, "← Sessions"), h("span", { class: "session-name" }, session.name), sandbox, conn);

  const tree = new Tree(sessionId);
  const editor = new Editor(sessionId, readOnly);
  const terminals = new Terminals(bridge, sessionId);
  const layout = h("main", { class: "workspace", "data-pane": "editor" });
  const show = (pane: Pane) => {
    layout.dataset.pane = pane;
    for (const b of nav.querySelectorAll("button")) b.classList.toggle("active", b.dataset.pane === pane);
    if (pane === "terminal") requestAnimationFrame(() => terminals.fitActive());
  };
  const nav = h(
    "nav",
    { class: "pane-nav" },
    ...(["files", "editor", "terminal"] as Pane[]).map((p) =>
      h("button", { "data-pane": p, class: p === "editor" ? "active" : "", onclick: () => show(p) }, p[0].toUpperCase() + p.slice(1)),
    ),
  );
  tree.onOpen = (path) => {
    void editor.open(path);
    show("editor");
  };
  editor.onSaved = () => tree.refreshSoon();
  const openFile = (path: string) => tree.onOpen(path);

  layout.append(
    h("aside", { class: "pane pane-files" }, fileToolbar(sessionId, session.name, tree, readOnly, openFile, report), tree.el),
    h("div", { class: "pane pane-editor" }, editor.el),
    h("div", { class: "pane pane-terminal" }, terminals.el),
  );
  mount(root, nav, layout, message);

  bridge.onState = (state) => showConnection(conn, state);
  bridge.onWorkspace = (msg: ServerMessage) => {
    if ("sessionId" in msg && msg.sessionId && msg.sessionId !== sessionId) return;
    switch (msg.type) {
      case "file_changed":
        tree.refreshSoon();
        void editor.changedRemotely(msg.path, msg.version, msg.deleted);
        break;
      case "workspace_status":
        sandbox.textContent = msg.state;
        if (msg.message) report(msg.message);
        break;
      case "sync_error":
        report(`${msg.path} was not saved (${msg.code}): ${msg.message}`, true);
        break;
      case "error":
        report(`${msg.code}: ${msg.message}`, true);
        break;
    }
  };
  bridge.start();
  terminals.restore();

  void api
    .status(sessionId)
    .then((st) => {
      sandbox.textContent = st.observed_state ?? st.desired_state ?? sandbox.textContent;
    })
    .catch(() => {});
  await tree.refresh();
  if (!readOnly && tree.empty) {
    // A fresh session: ask for the default files (ignored if this API is not there).
    try {
      await api.ensureDefault(sessionId);
      await tree.refresh();
    } catch {
      // optional
    }
  }

  const leave = () => {
    terminals.dispose();
    editor.dispose();
    bridge.stop("left the workspace");
  };
  const beforeUnload = (ev: BeforeUnloadEvent) => {
    if (editor.dirty) ev.preventDefault();
  };
  window.addEventListener("beforeunload", beforeUnload);
  return () => {
    window.removeEventListener("beforeunload", beforeUnload);
    leave();
  };
}

function showConnection(el: HTMLElement, state: ConnectionState): void {
  el.dataset.state = state.kind;
  switch (state.kind) {
    case "connecting":
      el.textContent = "connecting…";
      break;
    case "open":
      el.textContent = "connected";
      break;
    case "reconnecting":
      el.textContent = `reconnecting… ${Math.max(1, Math.round(state.inMs / 1000))} s`;
      el.title = `Terminal connection lost; retry ${state.attempt} in ${state.inMs} ms`;
      break;
    case "stopped":
      el.textContent = `disconnected: ${state.reason}`;
      break;
  }
}
