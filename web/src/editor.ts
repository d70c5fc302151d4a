// The file editor: CodeMirror 6 on one file at a time. Saves go through the REST API with
// `If-Match: <version>`, so a save over someone else's newer change answers 412; the editor
// then shows a conflict bar offering to reload (dropping local edits) or to overwrite.

import { EditorState, type Extension } from "@codemirror/state";
import {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  drawSelection,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  syntaxHighlighting,
} from "@codemirror/language";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import * as api from "./api";
import { h, mount } from "./dom";

function language(path: string): Extension {
  if (path.endsWith(".py")) return python();
  if (/\.(m?js|cjs|jsx)$/.test(path)) return javascript({ jsx: path.endsWith("x") });
  if (/\.tsx?$/.test(path)) return javascript({ typescript: true, jsx: path.endsWith("x") });
  return [];
}

export class Editor {
  readonly el: HTMLElement;
  private title: HTMLElement;
  private status: HTMLElement;
  private banner: HTMLElement;
  private host: HTMLElement;
  private saveButton: HTMLButtonElement;
  private view: EditorView | null = null;
  /** The open file and the version the editor's text is based on. */
  private path: string | null = null;
  private version: number | null = null;
  private saved = "";
  private saving = false;
  /** A save was refused (412) and the conflict bar is up: later change events leave it. */
  private conflict = false;
  /** Called after a successful save (the tree shows the new version). */
  onSaved: (path: string) => void = () => {};

  constructor(
    private readonly sessionId: string,
    private readonly readOnly: boolean,
  ) {
    this.title = h("span", { class: "editor-title" }, "No file open");
    this.status = h("span", { class: "editor-status", "aria-live": "polite" });
    this.saveButton = h("button", { class: "save", disabled: true, onclick: () => void this.save(this.version) }, "Save");
    this.banner = h("div", { class: "banner", hidden: true, role: "alert" });
    this.host = h("div", { class: "editor-host" }, h("p", { class: "hint" }, "Pick a file in the tree, or create one."));
    this.el = h(
      "section",
      { class: "editor" },
      h("div", { class: "editor-head" }, this.title, this.status, this.saveButton),
      this.banner,
      this.host,
    );
  }

  get openPath(): string | null {
    return this.path;
  }

  get dirty(): boolean {
    return this.view !== null && this.view.state.doc.toString() !== this.saved;
  }

  async open(path: string): Promise<void> {
    if (this.dirty && path !== this.path && !confirm(`Discard unsaved changes to ${this.path}?`)) return;
    this.setStatus("Loading…");
    let file: api.FileContent;
    try {
      file = await api.readFile(this.sessionId, path);
    } catch (e) {
      this.setStatus(`Could not open ${path}: ${(e as Error).message}`, true);
      return;
    }
    this.hideBanner();
    this.path = path;
    this.version = file.version;
    this.title.textContent = path;
    this.view?.destroy();
    this.view = null;
    if (file.encoding !== "utf-8") {
      mount(this.host, h("p", { class: "hint" }, `${path} is a binary file (${file.size} bytes); download the zip to get it.`));
      this.saveButton.disabled = true;
      this.setStatus("");
      return;
    }
    this.saved = file.content;
    mount(this.host);
    this.view = new EditorView({
      parent: this.host,
      state: EditorState.create({ doc: file.content, extensions: this.extensions(path) }),
    });
    this.saveButton.disabled = this.readOnly;
    this.setStatus(this.readOnly ? "read-only" : `version ${file.version}`);
  }

  /** A file changed on the server (from the bridge's file_changed event). */
  async changedRemotely(path: string, version: number | null, deleted: boolean): Promise<void> {
    if (path !== this.path || this.saving || this.conflict) return;
    if (version !== null && version === this.version) return; // our own save
    if (deleted) {
      this.showBanner(`${path} was deleted on the server.`, [["Keep editing", () => this.hideBanner()]]);
      this.version = null;
      return;
    }
    if (!this.dirty) {
      await this.open(path);
      this.setStatus(`version ${this.version} (updated)`);
      return;
    }
    this.showBanner(`${path} changed on the server (version ${version ?? "?"}).`, [
      ["Reload", () => void this.open(path)],
      ["Keep mine", () => this.hideBanner()],
    ]);
  }

  /** Saves the editor's text if the file is still at `ifVersion` (null: unconditionally). */
  async save(ifVersion: number | null): Promise<void> {
    if (!this.view || !this.path || this.readOnly || this.saving) return;
    const path = this.path;
    const text = this.view.state.doc.toString();
    this.saving = true;
    this.setStatus("Saving…");
    try {
      const written = await api.writeFile(this.sessionId, path, text, ifVersion);
      this.version = written.version;
      this.saved = text;
      this.showTitle();
      this.hideBanner();
      this.setStatus(`Saved, version ${written.version}`);
      this.onSaved(path);
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 412) {
        this.setStatus("Conflict", true);
        this.conflict = true;
        this.showBanner(`Conflict: ${path} changed since you opened it (${e.message}).`, [
          ["Reload", () => void this.open(path)],
          ["Overwrite", () => void this.overwrite(path)],
        ]);
      } else {
        this.setStatus(`Save failed: ${(e as Error).message}`, true);
      }
    } finally {
      this.saving = false;
    }
  }

  /** Keeps the local text: saves it over the server's current version. */
  private async overwrite(path: string): Promise<void> {
    try {
      const current = await api.readFile(this.sessionId, path);
      await this.save(current.version);
    } catch (e) {
      // Deleted meanwhile: create it again.
      if (e instanceof api.ApiError && e.status === 404) await this.save(null);
      else this.setStatus(`Save failed: ${(e as Error).message}`, true);
    }
  }

  private extensions(path: string): Extension[] {
    const save = () => {
      void this.save(this.version);
      return true;
    };
    return [
      lineNumbers(),
      highlightActiveLineGutter(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      highlightActiveLine(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      keymap.of([{ key: "Mod-s", run: save, preventDefault: true }, indentWithTab, ...defaultKeymap, ...historyKeymap]),
      language(path),
      EditorState.readOnly.of(this.readOnly),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) this.showTitle();
      }),
    ];
  }

  /** The file's path, with a dot while there are unsaved changes. */
  private showTitle(): void {
    this.title.textContent = (this.path ?? "No file open") + (this.dirty ? " •" : "");
  }

  private setStatus(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle("error", error);
  }

  private showBanner(text: string, actions: [string, () => void][]): void {
    mount(
      this.banner,
      h("span", {}, text),
      ...actions.map(([label, run]) => h("button", { onclick: run }, label)),
    );
    this.banner.hidden = false;
  }

  private hideBanner(): void {
    this.conflict = false;
    this.banner.hidden = true;
    mount(this.banner);
  }

  dispose(): void {
    this.view?.destroy();
  }
}
