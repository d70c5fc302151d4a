// The sessions page: the caller's sessions (own and shared) and a form to create one.

import * as api from "./api";
import { h, mount } from "./dom";

export async function showSessions(root: HTMLElement, open: (id: string) => void): Promise<void> {
  const name = h("input", { name: "name", placeholder: "Untitled session", maxlength: 200, "aria-label": "Session name" });
  const language = h("select", { name: "language", "aria-label": "Language" },
    ...["python", "javascript", "bash", ""].map((l) => h("option", { value: l }, l || "(none)")));
  const error = h("p", { class: "form-error", role: "alert" });
  const list = h("ul", { class: "session-list" }, h("li", { class: "hint" }, "Loading…"));
  const form = h("form", { class: "new-session" }, name, language, h("button", { type: "submit", class: "primary" }, "New session"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      const session = await api.createSession(name.value.trim(), language.value);
      open(session.id);
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  });
  mount(root, h("section", { class: "card sessions" }, h("h2", {}, "Sessions"), form, error, list));

  try {
    const sessions = await api.listSessions();
    if (sessions.length === 0) {
      mount(list, h("li", { class: "hint" }, "No sessions yet: create one above."));
      return;
    }
    mount(
      list,
      ...sessions.map((s) =>
        h(
          "li",
          {},
          h("a", { href: `#/s/${s.id}`, class: "session-link" }, s.name),
          h("span", { class: "meta" }, [s.language, s.role === "owner" ? null : `${s.role} of ${s.owner_username}`, new Date(s.updated_at).toLocaleString()].filter(Boolean).join(" · ")),
        ),
      ),
    );
  } catch (e) {
    mount(list, h("li", { class: "form-error" }, `Could not load sessions: ${(e as Error).message}`));
  }
}
