// The playground's entry point: a hash router over three pages (sign in, sessions, a
// session's workspace) under a shared header.

import "./style.css";
import * as api from "./api";
import { h, mount } from "./dom";
import { showLogin } from "./auth";
import { showSessions } from "./sessions";
import { showWorkspace } from "./workspace";

const app = document.getElementById("app")!;
const header = h("div", { class: "header-main" });
const user = h("div", { class: "header-user" });
const content = h("div", { class: "content" });
mount(app, h("header", { class: "top" }, header, user), content);

let teardown: (() => void) | null = null;

/** Goes to `hash`, re-rendering even when it is already the current one. */
function go(hash: string): void {
  if (location.hash === hash) void route();
  else location.hash = hash;
}

function logoutButton(): HTMLElement {
  return h("button", {
    class: "link logout",
    onclick: async () => {
      await api.logout().catch(() => {});
      go("#/login");
    },
  }, "Log out");
}

async function route(): Promise<void> {
  teardown?.();
  teardown = null;
  const hash = location.hash.replace(/^#/, "") || "/";
  if (!api.token()) {
    mount(header, h("span", { class: "brand" }, "Code playground"));
    mount(user);
    showLogin(content, () => go("#/"));
    return;
  }
  mount(user, h("span", { class: "username" }, api.currentUser()?.username ?? ""), logoutButton());
  const match = /^\/s\/([0-9a-fA-F-]{36})$/.exec(hash);
  if (match) {
    try {
      teardown = await showWorkspace(content, match[1], header);
    } catch (e) {
      mount(content, h("p", { class: "form-error card" }, `Could not open the session: ${(e as Error).message}`));
    }
    return;
  }
  mount(header, h("span", { class: "brand" }, "Code playground"));
  await showSessions(content, (id) => go(`#/s/${id}`));
}

api.setUnauthorizedHandler(() => {
  api.forget();
  go("#/login");
});
window.addEventListener("hashchange", () => void route());
void route();
