// The file tree of a session: folders (collapsible) and files, rebuilt from the flat list the
// API answers. Refreshes are debounced, so a burst of file_changed events costs one request.

import * as api from "./api";
import { h, mount } from "./dom";

interface Node {
  name: string;
  path: string;
  item: api.Item | null;
  children: Map<string, Node>;
}

function build(items: api.Item[]): Node {
  const root: Node = { name: "", path: "", item: null, children: new Map() };
  for (const item of items) {
    let node = root;
    const parts = item.path.split("/");
    parts.forEach((name, i) => {
      const path = parts.slice(0, i + 1).join("/");
      let child = node.children.get(name);
      if (!child) {
        child = { name, path, item: null, children: new Map() };
        node.children.set(name, child);
      }
      if (i === parts.length - 1) child.item = item;
      node = child;
    });
  }
  return root;
}

const isFolder = (n: Node) => n.item?.kind === "folder" || (n.item === null && n.children.size > 0);

export class Tree {
  readonly el: HTMLElement;
  private list: HTMLElement;
  private items: api.Item[] = [];
  private collapsed = new Set<string>();
  private selected: string | null = null;
  private timer: number | undefined;
  /** A file was picked. */
  onOpen: (path: string) => void = () => {};
  /** The folder new files and uploads go into ("" for the top). */
  folder = "";

  constructor(private readonly sessionId: string) {
    this.list = h("ul", { class: "tree", role: "tree" });
    this.el = h("div", { class: "tree-wrap" }, this.list);
  }

  get empty(): boolean {
    return this.items.length === 0;
  }

  has(path: string): boolean {
    return this.items.some((i) => i.path === path);
  }

  select(path: string | null): void {
    this.selected = path;
    this.render();
  }

  /** Reloads the tree now. */
  async refresh(): Promise<void> {
    try {
      this.items = await api.listFiles(this.sessionId);
      this.render();
    } catch (e) {
      mount(this.list, h("li", { class: "error" }, `Could not load files: ${(e as Error).message}`));
    }
  }

  /** Reloads the tree soon (coalescing bursts of events). */
  refreshSoon(): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.refresh(), 150);
  }

  private render(): void {
    const root = build(this.items);
    if (root.children.size === 0) {
      mount(this.list, h("li", { class: "hint" }, "No files yet."));
      return;
    }
    mount(this.list, ...this.nodes(root, 0));
  }

  private nodes(parent: Node, depth: number): HTMLElement[] {
    const sorted = [...parent.children.values()].sort((a, b) => {
      const fa = isFolder(a), fb = isFolder(b);
      return fa === fb ? a.name.localeCompare(b.name) : fa ? -1 : 1;
    });
    const out: HTMLElement[] = [];
    for (const node of sorted) {
      const folder = isFolder(node);
      const open = !this.collapsed.has(node.path);
      const classes = ["node", folder ? "folder" : "file"];
      if (node.path === this.selected || (folder && node.path === this.folder)) classes.push("selected");
      const row = h(
        "li",
        {
          class: classes.join(" "),
          role: "treeitem",
          "data-path": node.path,
          "aria-expanded": folder ? String(open) : undefined,
          style: `padding-left:${0.5 + depth * 0.9}rem`,
          tabindex: 0,
          onclick: () => this.click(node),
          onkeydown: (ev: Event) => {
            if ((ev as KeyboardEvent).key === "Enter") this.click(node);
          },
        },
        h("span", { class: "icon" }, folder ? (open ? "▾" : "▸") : "·"),
        h("span", { class: "name" }, node.name),
      );
      out.push(row);
      if (folder && open) out.push(...this.nodes(node, depth + 1));
    }
    return out;
  }

  private click(node: Node): void {
    if (isFolder(node)) {
      if (this.collapsed.has(node.path)) this.collapsed.delete(node.path);
      else this.collapsed.add(node.path);
      this.folder = node.path;
      this.render();
    } else {
      this.selected = node.path;
      const slash = node.path.lastIndexOf("/");
      this.folder = slash >= 0 ? node.path.slice(0, slash) : "";
      this.render();
      this.onOpen(node.path);
    }
  }
}
