// Terminal tabs of one session: each tab is an xterm.js terminal attached to the bridge under
// its own terminalId. The tab ids are kept in localStorage per session, so a reload finds the
// same shells again (the bridge replays their recent output).

import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";
import type { Bridge } from "./bridge";
import { h, mount } from "./dom";

interface Tab {
  id: string;
  term: Terminal;
  fit: FitAddon;
  pane: HTMLElement;
  button: HTMLElement;
  exited: boolean;
  /** Whether a shell was opened for this tab before (a later `created` is a new shell). */
  started: boolean;
}

const storeKey = (sessionId: string) => `cep.terminals.${sessionId}`;

export class Terminals {
  readonly el: HTMLElement;
  private bar: HTMLElement;
  private body: HTMLElement;
  private tabs: Tab[] = [];
  private active: Tab | null = null;
  private counter = 0;
  private observer: ResizeObserver;

  constructor(
    private readonly bridge: Bridge,
    private readonly sessionId: string,
  ) {
    this.bar = h("div", { class: "tabbar", role: "tablist" });
    this.body = h("div", { class: "term-body" });
    const add = h("button", { class: "tab-add", title: "New terminal", "aria-label": "New terminal", onclick: () => this.add() }, "+");
    this.el = h("section", { class: "terminals" }, h("div", { class: "tabrow" }, this.bar, add), this.body);
    this.observer = new ResizeObserver(() => this.fitActive());
    this.observer.observe(this.body);
  }

  /** Opens the tabs remembered for this session, or one new tab. */
  restore(): void {
    const saved = JSON.parse(localStorage.getItem(storeKey(this.sessionId)) ?? "[]") as string[];
    for (const id of saved) this.add(id);
    if (this.tabs.length === 0) this.add();
  }

  add(id?: string): void {
    const termId = id ?? this.freshId();
    const term = new Terminal({
      cursorBlink: true,
      fontSize: 13,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      scrollback: 5000,
      theme: { background: "#1e1e1e" },
    });
    const fit = new FitAddon();
    term.loadAddon(fit);
    const pane = h("div", { class: "term-pane", "data-terminal": termId });
    const label = `Terminal ${this.tabs.length + 1}`;
    const button = h(
      "div",
      { class: "tab", role: "tab", "data-terminal": termId },
      h("span", { class: "tab-label", onclick: () => this.select(tab) }, label),
      h("button", { class: "tab-close", title: "Close terminal", "aria-label": `Close ${label}`, onclick: () => this.remove(tab) }, "×"),
    );
    const tab: Tab = { id: termId, term, fit, pane, button, exited: false, started: false };
    this.tabs.push(tab);
    this.bar.append(button);
    this.body.append(pane);
    term.open(pane);
    term.onData((data) => {
      if (tab.exited) {
        // Any key after an exit starts a new shell in the same tab.
        tab.exited = false;
        term.reset();
        this.bridge.reopen(this.sessionId, termId);
        return;
      }
      this.bridge.input(this.sessionId, termId, data);
    });
    term.onResize(({ cols, rows }) => this.bridge.resize(this.sessionId, termId, cols, rows));
    this.select(tab);
    this.bridge.attach(this.sessionId, termId, {
      size: () => ({ cols: term.cols, rows: term.rows }),
      opened: (msg) => {
        // The bridge replays the shell's recent output next: start from a clean screen so
        // nothing shows twice.
        if (msg.replayed) term.reset();
        else if (!msg.created) term.write("\r\n\x1b[2m[reattached]\x1b[0m\r\n");
        else if (tab.started) term.write("\r\n\x1b[2m[new shell]\x1b[0m\r\n");
        tab.started = true;
      },
      output: (data) => term.write(data),
      exited: (msg) => {
        tab.exited = true;
        const why = msg.signal ? `signal ${msg.signal}` : `code ${msg.code ?? "?"}`;
        term.write(`\r\n\x1b[33m[process exited with ${why}; press any key for a new shell]\x1b[0m\r\n`);
      },
      error: (code, message) => term.write(`\r\n\x1b[31m[${code}: ${message}]\x1b[0m\r\n`),
    });
    this.save();
  }

  select(tab: Tab): void {
    this.active = tab;
    for (const t of this.tabs) {
      const on = t === tab;
      t.pane.hidden = !on;
      t.button.classList.toggle("active", on);
      t.button.setAttribute("aria-selected", String(on));
    }
    this.fitActive();
    tab.term.focus();
  }

  remove(tab: Tab): void {
    this.bridge.close(this.sessionId, tab.id);
    tab.term.dispose();
    tab.pane.remove();
    tab.button.remove();
    this.tabs = this.tabs.filter((t) => t !== tab);
    this.save();
    if (this.active === tab) {
      const next = this.tabs[this.tabs.length - 1];
      if (next) this.select(next);
      else this.active = null;
    }
    if (this.tabs.length === 0) mount(this.body);
  }

  /** Refits the visible terminal to its pane (after layout changes). */
  fitActive(): void {
    const tab = this.active;
    if (!tab || tab.pane.hidden || tab.pane.clientWidth === 0) return;
    try {
      tab.fit.fit();
    } catch {
      // not laid out yet
    }
  }

  /** Leaves the page: detaches every tab (the shells keep running in the sandbox). */
  dispose(): void {
    this.observer.disconnect();
    for (const tab of this.tabs) {
      this.bridge.detach(this.sessionId, tab.id);
      tab.term.dispose();
    }
    this.tabs = [];
  }

  private freshId(): string {
    const used = new Set(this.tabs.map((t) => t.id));
    let id: string;
    do {
      this.counter += 1;
      id = `term-${this.counter}`;
    } while (used.has(id));
    return id;
  }

  private save(): void {
    localStorage.setItem(storeKey(this.sessionId), JSON.stringify(this.tabs.map((t) => t.id)));
  }
}
