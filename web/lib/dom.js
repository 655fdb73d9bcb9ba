// Small DOM helpers: elements, labelled fields with their error slot, problem+json shown on a form.
import { t, has } from "./i18n.js";
import { newKey } from "./api.js";

/** An element: h("p", {class: "x"}, "text", child, …). ``on*`` attributes become listeners. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return element;
}

let fieldCount = 0;

/** A labelled input (or select/textarea given as ``control``) with a slot for its error. */
export function field(name, label, attributes = {}, control = null) {
  fieldCount += 1;
  const id = attributes.id || `f-${name.replace(/\W/g, "-")}-${fieldCount}`;
  const errorId = `${id}-error`;
  const input = control || h("input", { name, id, ...attributes });
  input.id = id;
  input.name = name;
  input.setAttribute("aria-describedby", [attributes.hint ? `${id}-hint` : null, errorId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field", "data-field": name },
    h("label", { for: id }, label, attributes.required ? h("span", { class: "required" }, " *") : null),
    attributes.hint ? h("p", { class: "hint", id: `${id}-hint` }, attributes.hint) : null,
    input,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

export function select(options, selected) {
  return h(
    "select",
    {},
    options.map(([value, label]) => h("option", { value, selected: value === selected }, label)),
  );
}

/** A checkbox with its label after it. */
export function checkbox(name, ...label) {
  fieldCount += 1;
  const id = `f-${name}-${fieldCount}`;
  return h(
    "div",
    { class: "field checkbox", "data-field": name },
    h("input", { type: "checkbox", name, id, "aria-describedby": `${id}-error` }),
    h("label", { for: id }, ...label),
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
  );
}

/** The plain message of an API error ``code`` in the current language. */
export function messageOf(error) {
  const code = error.code || "unknown";
  return has(`error.${code}`) ? t(`error.${code}`) : t("error.unknown", { code });
}

export function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((slot) => {
    slot.hidden = true;
    slot.textContent = "";
  });
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  const summary = form.querySelector(".form-error");
  if (summary) {
    summary.hidden = true;
    summary.textContent = "";
  }
}

/** Shows ``error`` on ``form``: the code's message on top, each errors[] entry next to its field. */
export function showError(form, error, fieldOfCode = {}) {
  clearErrors(form);
  let first = null;
  const place = (name, message) => {
    // "amount.amount" goes next to "amount" when the form has no field of the whole path.
    let holder = null;
    for (let parts = name.split("."); parts.length && !holder; parts = parts.slice(0, -1)) {
      holder = form.querySelector(`[data-field="${CSS.escape(parts.join("."))}"]`);
    }
    if (!holder) {
      return false;
    }
    const slot = holder.querySelector(".field-error");
    slot.textContent = message;
    slot.hidden = false;
    const input = holder.querySelector("input, select, textarea");
    input.setAttribute("aria-invalid", "true");
    first = first || input;
    return true;
  };
  const unplaced = [];
  for (const item of (error.problem && error.problem.errors) || []) {
    if (!place(item.field, t("error.field", { message: item.message }))) {
      unplaced.push(`${item.field}: ${item.message}`);
    }
  }
  if (fieldOfCode[error.code]) {
    place(fieldOfCode[error.code], messageOf(error));
  }
  const summary = form.querySelector(".form-error");
  summary.textContent = [messageOf(error), ...unplaced].join(" ");
  summary.hidden = false;
  (first || summary).focus();
}

/**
 * Submits ``form`` through ``action(values, key)``: one idempotency key per user action. A retry
 * whose first attempt got no answer (the network, or a 5xx, whose record the API drops) resends
 * the same key, so the API does it at most once; an answered attempt (2xx, 4xx: the API keeps
 * its answer for the key) or a changed form takes a new one.
 */
export function onSubmit(form, action) {
  let key = newKey();
  form.addEventListener("input", () => {
    key = newKey();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    clearErrors(form);
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await action(form, key);
      key = newKey();
    } catch (error) {
      if (error && error.status !== undefined && error.status !== 0 && error.status < 500) {
        key = newKey(); // answered: trying again is a new action
      }
      if (error && error.code) {
        showError(form, error, form.fieldOfCode || {});
      } else {
        throw error;
      }
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });
}

/** The form's error summary (focusable, announced). */
export function formError() {
  return h("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
}

export function value(form, name) {
  const input = form.elements.namedItem(name);
  return input ? input.value.trim() : "";
}

export function checked(form, name) {
  const input = form.elements.namedItem(name);
  return Boolean(input && input.checked);
}
