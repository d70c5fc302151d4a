// The sign-in page: log in, or register and then log in.

import * as api from "./api";
import { h, mount } from "./dom";

export function showLogin(root: HTMLElement, done: () => void): void {
  const username = h("input", { name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 64, autocapitalize: "off", spellcheck: "false" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8 });
  const email = h("input", { name: "email", type: "email", autocomplete: "email" });
  const emailRow = h("label", { hidden: true }, "E-mail (optional)", email);
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const toggle = h("button", { type: "button", class: "link" }, "Create an account");
  let registering = false;

  toggle.addEventListener("click", () => {
    registering = !registering;
    emailRow.hidden = !registering;
    password.autocomplete = registering ? "new-password" : "current-password";
    submit.textContent = registering ? "Register" : "Log in";
    toggle.textContent = registering ? "I have an account" : "Create an account";
    error.textContent = "";
  });

  const form = h(
    "form",
    { class: "card auth" },
    h("h1", {}, "Code playground"),
    h("label", {}, "Username", username),
    h("label", {}, "Password", password),
    emailRow,
    error,
    submit,
    toggle,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      if (registering) await api.register(username.value.trim(), password.value, email.value.trim() || undefined);
      await api.login(username.value.trim(), password.value);
      done();
    } catch (e) {
      error.textContent = (e as Error).message;
    } finally {
      submit.disabled = false;
    }
  });
  mount(root, form);
  username.focus();
}
