// The account's users: the list, adding one with a role, removing one. Adding a user beyond the
// included seats shows the extra seat's price and the warning before it is confirmed.
import { t, money, number, date } from "../lib/i18n.js";
import { api, accountPath, newKey } from "../lib/api.js";
import { session } from "../lib/auth.js";
import { h, field, select, formError, onSubmit, value, messageOf } from "../lib/dom.js";

const ROLES = ["agent", "admin"];

function userRow(user, canManage, remove) {
  const actions = h("td", {});
  if (canManage && user.role !== "owner") {
    const ask = h(
      "button",
      { type: "button", "data-remove": user.email, "aria-label": t("users.remove_named", { name: user.full_name }) },
      t("users.remove"),
    );
    ask.addEventListener("click", () => {
      const key = newKey();
      const error = h("span", { class: "field-error", role: "alert" });
      const confirm = h("button", { type: "button", class: "danger", "data-confirm-remove": user.email }, t("users.remove_confirm", { name: user.full_name }));
      const cancel = h("button", { type: "button" }, t("common.cancel"));
      confirm.addEventListener("click", async () => {
        confirm.disabled = true;
        try {
          await remove(user, key);
        } catch (failure) {
          error.textContent = messageOf(failure);
          confirm.disabled = false;
        }
      });
      cancel.addEventListener("click", () => {
        actions.replaceChildren(ask);
        ask.focus();
      });
      actions.replaceChildren(confirm, " ", cancel, error);
      confirm.focus();
    });
    actions.append(ask);
  }
  return h(
    "tr",
    { "data-user": user.email },
    h("td", {}, user.full_name),
    h("td", {}, user.email),
    h("td", {}, t(`role.${user.role}`)),
    h("td", {}, user.billable ? t("users.extra_seat") : t("users.included_seat")),
    h("td", {}, date(user.created_at)),
    actions,
  );
}

export async function render({ rerender, flash }) {
  const me = session();
  const canManage = me.role === "owner" || me.role === "admin";
  let account;
  let users;
  try {
    [account, users] = await Promise.all([
      api("GET", accountPath(me.accountId)),
      api("GET", accountPath(me.accountId, "/users")),
    ]);
  } catch (error) {
    return h("section", {}, h("h1", {}, t("users.title")), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
  }
  const remove = async (user, key) => {
    await api("DELETE", accountPath(me.accountId, `/users/${encodeURIComponent(user.user_id)}`), { key });
    flash(t("users.removed", { name: user.full_name }));
    rerender();
  };
  const table = h(
    "table",
    { id: "users" },
    h("caption", {}, t("users.caption", { used: number(account.seats.used), included: number(account.seats.included) })),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["users.name", "users.email", "users.role", "users.seat", "users.added_on"].map((key) => h("th", { scope: "col" }, t(key))),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("users.actions"))),
      ),
    ),
    h("tbody", {}, users.items.map((user) => userRow(user, canManage, remove))),
  );
  const parts = [h("h1", {}, t("users.title")), table];
  if (canManage) {
    parts.push(addForm(account, me, flash, rerender));
  }
  return h("section", {}, ...parts);
}

function addForm(account, me, flash, rerender) {
  const billable = account.seats.used >= account.seats.included;
  const form = h(
    "form",
    { id: "add-user-form", novalidate: true },
    formError(),
    field("full_name", t("field.full_name"), { required: true, autocomplete: "off" }),
    field("email", t("field.email"), { type: "email", required: true, autocomplete: "off" }),
    field("role", t("field.role"), { required: true }, select(ROLES.map((role) => [role, t(`role.${role}`)]), "agent")),
    h("div", { id: "seat-warning", class: "warning", hidden: true, role: "alert" }),
    h("button", { type: "submit", class: "primary" }, t("users.add")),
  );
  form.fieldOfCode = { user_exists: "email" };
  let confirmed = false;
  const warning = form.querySelector("#seat-warning");
  const button = form.querySelector("button[type=submit]");
  form.addEventListener("input", () => {
    confirmed = false;
    warning.hidden = true;
    button.textContent = t("users.add");
  });
  onSubmit(form, async (_, key) => {
    if (billable && !confirmed) {
      // The price first: the user is added only when the owner confirms it.
      const credit = await api("GET", accountPath(me.accountId, "/credit"));
      warning.replaceChildren(
        h("strong", {}, t("users.extra_seat_title")),
        " ",
        t("users.extra_seat_warning", {
          included: number(account.seats.included),
          price: money(credit.seat_price),
        }),
      );
      warning.hidden = false;
      button.textContent = t("users.add_confirm", { price: money(credit.seat_price) });
      confirmed = true;
      button.focus();
      return;
    }
    const added = await api("POST", accountPath(me.accountId, "/users"), {
      body: { full_name: value(form, "full_name"), email: value(form, "email"), role: value(form, "role") },
      key,
    });
    flash(t(added.billable ? "users.added_billable" : "users.added", { name: added.full_name, email: added.email }));
    rerender();
  });
  return h("section", { "aria-labelledby": "add-user-heading" }, h("h2", { id: "add-user-heading" }, t("users.add_title")), form);
}
