// The file toolbar above the tree: new file, upload (multipart) and zip download.

import * as api from "./api";
import { h } from "./dom";
import type { Tree } from "./tree";

export function fileToolbar(
  sessionId: string,
  sessionName: string,
  tree: Tree,
  readOnly: boolean,
  openFile: (path: string) => void,
  report: (text: string, error?: boolean) => void,
): HTMLElement {
  const name = h("input", {
    class: "new-file",
    placeholder: "new file, e.g. main.py",
    "aria-label": "New file path",
    autocapitalize: "off",
    spellcheck: "false",
  });
  const create = async (ev: Event) => {
    ev.preventDefault();
    const raw = name.value.trim().replace(/^\/+/, "");
    if (!raw) return;
    const path = tree.folder && !raw.includes("/") ? `${tree.folder}/${raw}` : raw;
    if (tree.has(path)) {
      openFile(path);
      return;
    }
    try {
      await api.writeFile(sessionId, path, "", null);
      name.value = "";
      await tree.refresh();
      tree.select(path);
      openFile(path);
    } catch (e) {
      report(`Could not create ${path}: ${(e as Error).message}`, true);
    }
  };

  const picker = h("input", { type: "file", multiple: true, hidden: true });
  picker.addEventListener("change", async () => {
    const files = [...(picker.files ?? [])];
    picker.value = "";
    if (files.length === 0) return;
    const prefix = tree.folder ? `${tree.folder}/` : "";
    report(`Uploading ${files.length} file(s)…`);
    try {
      await api.upload(sessionId, files.map((file) => ({ path: prefix + file.name, file })));
      report(`Uploaded ${files.map((f) => prefix + f.name).join(", ")}`);
      await tree.refresh();
    } catch (e) {
      report(`Upload failed: ${(e as Error).message}`, true);
    }
  });

  const zip = async () => {
    try {
      const blob = await api.downloadZip(sessionId);
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: `${sessionName.replace(/[^\w.-]+/g, "_") || "workspace"}.zip` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      report(`Download failed: ${(e as Error).message}`, true);
    }
  };

  return h(
    "div",
    { class: "file-tools" },
    readOnly
      ? null
      : h("form", { class: "new-file-form", onsubmit: create }, name, h("button", { type: "submit" }, "Create")),
    h(
      "div",
      { class: "file-buttons" },
      readOnly ? null : h("button", { class: "upload", onclick: () => picker.click() }, "Upload"),
      h("button", { class: "zip", onclick: zip }, "Download zip"),
      h("button", { class: "refresh", title: "Reload the tree", onclick: () => void tree.refresh() }, "↻"),
      picker,
    ),
  );
}
