// Stop the account ("Спри акаунт", R-TERM-1): what it deletes and what it refunds, from the API's
// answers (users, invoices kept by law, prepaid credit: half refunded, R-CREDIT-2), confirmed
// by typing the account's address; or ask by email instead (R-TERM-2). Stopping ends sign-in.
import { t, money, number, dateTime } from "../lib/i18n.js";
import { api, accountPath } from "../lib/api.js";
import { session, signOut } from "../lib/auth.js";
import { h, field, formError, onSubmit, messageOf, value } from "../lib/dom.js";

export async function render({ navigate, flash }) {
  const me = session();
  if (me.role !== "owner") {
    return h("section", {}, h("h1", {}, t("stop.title")), h("p", {}, t("billing.owner_only")));
  }
  let account;
  let users;
  let invoices;
  let credit;
  try {
    [account, users, invoices, credit] = await Promise.all([
      api("GET", accountPath(me.accountId)),
      api("GET", accountPath(me.accountId, "/users")),
      api("GET", accountPath(me.accountId, "/invoices")),
      api("GET", accountPath(me.accountId, "/credit")),
    ]);
  } catch (error) {
    return h("section", {}, h("h1", {}, t("stop.title")), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
  }
  const consequences = h(
    "ul",
    { id: "stop-consequences" },
    h("li", {}, t("stop.access_ends")),
    h("li", {}, t("stop.users_deleted", { count: number(users.items.length) })),
    h("li", {}, t("stop.content_deleted")),
    h("li", {}, t("stop.invoices_kept", { count: number(invoices.items.length) })),
    h("li", {}, t("stop.no_charges")),
    h(
      "li",
      { id: "stop-credit" },
      credit.balance.amount > 0 ? t("stop.credit_refund", { balance: money(credit.balance) }) : t("stop.no_refund"),
    ),
  );
  const stopForm = h(
    "form",
    { id: "stop-form", novalidate: true },
    formError(),
    field("confirm", t("stop.type_address", { subdomain: account.subdomain }), { required: true, autocomplete: "off", spellcheck: "false" }),
    h("button", { type: "submit", class: "danger" }, t("stop.submit")),
  );
  onSubmit(stopForm, async (_, key) => {
    if (value(stopForm, "confirm") !== account.subdomain) {
      throw { code: "validation_error", problem: { errors: [{ field: "confirm", message: t("stop.type_mismatch") }] } };
    }
    const stopped = await api("POST", accountPath(me.accountId, "/cancel"), { key });
    await signOut(); // the identity provider ends sign-in too; the tokens are forgotten
    flash(
      stopped.refund
        ? t("stop.done_refund", { refund: money(stopped.refund), fee: money(stopped.cancellation_fee) })
        : t("stop.done"),
    );
    navigate("signin");
  });
  const emailForm = h(
    "form",
    { id: "stop-by-email-form", novalidate: true },
    formError(),
    h("button", { type: "submit" }, t("stop.by_email_submit")),
  );
  const requested = h("p", { id: "stop-requested", role: "status" });
  onSubmit(emailForm, async (_, key) => {
    const request = await api("POST", accountPath(me.accountId, "/cancellation-requests"), { key });
    requested.textContent = t("stop.by_email_done", { due: dateTime(request.due_by) });
  });
  return h(
    "section",
    {},
    h("h1", {}, t("stop.title")),
    h("p", {}, t("stop.intro")),
    consequences,
    stopForm,
    h("h2", {}, t("stop.by_email_title")),
    h("p", {}, t("stop.by_email_intro")),
    emailForm,
    requested,
  );
}
