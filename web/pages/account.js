// The account: status, plan, seats included / used / extra, trial end, access and why it is
// blocked, the voucher, a code to apply, and the notices the account was sent.
import { t, has, number, dateTime, date } from "../lib/i18n.js";
import { api, accountPath } from "../lib/api.js";
import { session } from "../lib/auth.js";
import { h, field, formError, onSubmit, value, messageOf } from "../lib/dom.js";

function row(label, content, id) {
  return [h("dt", {}, label), h("dd", { id }, content)];
}

function access(account) {
  if (account.access === "full") {
    return t("access.full");
  }
  const reason = has(`access.${account.access}`) ? t(`access.${account.access}`) : account.access;
  return t("access.blocked", { reason });
}

function notices(items) {
  if (!items.length) {
    return h("p", { id: "notices-empty" }, t("account.no_notices"));
  }
  return h(
    "ul",
    { id: "notices", class: "notices" },
    [...items].reverse().map((notice) =>
      h(
        "li",
        { "data-type": notice.type },
        h("details", {}, h("summary", {}, `${dateTime(notice.created_at)} · ${notice.subject}`), h("pre", {}, notice.body)),
      ),
    ),
  );
}

function redeemForm(accountId, rerender, flash) {
  const form = h(
    "form",
    { id: "apply-code-form", novalidate: true },
    formError(),
    field("code", t("field.code"), { required: true, autocomplete: "off", spellcheck: "false" }),
    h("button", { type: "submit" }, t("account.apply_code")),
  );
  form.fieldOfCode = {
    voucher_not_found: "code",
    voucher_already_redeemed: "code",
    voucher_expired: "code",
    voucher_not_stackable: "code",
  };
  onSubmit(form, async (_, key) => {
    await api("POST", accountPath(accountId, "/redemptions"), { body: { code: value(form, "code") }, key });
    flash(t("account.code_applied"));
    rerender();
  });
  return h("section", { "aria-labelledby": "apply-code-heading" }, h("h2", { id: "apply-code-heading" }, t("account.apply_code")), form);
}

export async function render({ rerender, flash }) {
  const me = session();
  let account;
  try {
    account = await api("GET", accountPath(me.accountId));
  } catch (error) {
    return h("section", {}, h("h1", {}, t("account.title")), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
  }
  const owner = me.role === "owner";
  let received = null;
  if (owner) {
    try {
      received = (await api("GET", accountPath(me.accountId, "/notifications"))).items;
    } catch (error) {
      received = null;
    }
  }
  const facts = h(
    "dl",
    { class: "facts", id: "account-facts" },
    row(t("account.subdomain"), account.subdomain, "account-subdomain"),
    row(t("account.status"), t(`status.${account.status}`), "account-status"),
    row(t("account.plan"), t(`plan.${account.plan}`), "account-plan"),
    row(t("account.billing_period"), account.lifetime ? t("account.lifetime") : t(`period.${account.billing_period}`), "account-period"),
    row(
      t("account.seats"),
      t("account.seats_value", {
        included: number(account.seats.included),
        used: number(account.seats.used),
        extra: number(account.seats.extra),
      }),
      "account-seats",
    ),
    account.trial_ends_at ? row(t("account.trial_ends"), dateTime(account.trial_ends_at), "account-trial-ends") : [],
    row(t("account.access"), access(account), "account-access"),
    account.voucher
      ? row(t("account.voucher"), t("account.voucher_value", { campaign: account.voucher.campaign_id, date: date(account.voucher.redeemed_at) }), "account-voucher")
      : [],
    row(t("account.created"), date(account.created_at), "account-created"),
  );
  return h(
    "section",
    {},
    h("h1", {}, t("account.title")),
    account.access === "full" ? null : h("p", { class: "warning", role: "alert", id: "blocked" }, access(account)),
    facts,
    owner && !account.voucher ? redeemForm(account.id, rerender, flash) : null,
    owner
      ? h(
          "section",
          { "aria-labelledby": "notices-heading" },
          h("h2", { id: "notices-heading" }, t("account.notices")),
          received === null ? h("p", {}, t("account.notices_unavailable")) : notices(received),
        )
      : null,
  );
}
