// The plan: a change is previewed first (what is due now and why, the next invoice, and what a
// downgrade loses, R-PAY-5..8) and made only when confirmed. Prepaid credit (R-CREDIT): the
// balance, how long it lasts, and buying more with the card.
import { t, money, dateTime, number } from "../lib/i18n.js";
import { api, accountPath } from "../lib/api.js";
import { session } from "../lib/auth.js";
import { h, field, select, formError, onSubmit, messageOf, value } from "../lib/dom.js";
import { PLANS, PERIODS } from "./signup.js";

function lines(preview) {
  return h(
    "ul",
    {},
    preview.lines.map((line) => h("li", {}, `${line.description}: ${money(line.amount)}`)),
  );
}

function previewOf(answer) {
  const parts = [
    h("p", { id: "due-now" }, h("strong", {}, t("plan.due_now", { amount: money(answer.amount_due_now) }))),
  ];
  if (answer.due_now) {
    parts.push(lines(answer.due_now));
  }
  parts.push(
    h("p", { id: "next-invoice" }, t("plan.next_invoice", { total: money(answer.next_invoice.total), start: dateTime(answer.next_invoice.period_start) })),
    lines(answer.next_invoice),
  );
  if (answer.subscription.pending) {
    parts.push(h("p", {}, t("plan.pending", { date: dateTime(answer.subscription.pending.effective_at) })));
  }
  if (answer.losses.length) {
    parts.push(
      h("p", {}, h("strong", {}, t("plan.losses"))),
      h("ul", { id: "losses" }, answer.losses.map((loss) => h("li", {}, `${loss.name}: ${loss.detail}`))),
    );
  }
  return parts;
}

function changeForm(accountId, account, current, flash, rerender) {
  const preview = h("div", { id: "plan-preview", class: "warning", hidden: true, "aria-live": "polite" });
  const confirmBox = h(
    "div",
    { class: "field checkbox", hidden: true, id: "downgrade-confirmation" },
    h("input", { type: "checkbox", name: "confirm_downgrade", id: "confirm-downgrade" }),
    h("label", { for: "confirm-downgrade" }, t("plan.confirm_losses")),
  );
  const button = h("button", { type: "submit", class: "primary" }, t("plan.preview"));
  const form = h(
    "form",
    { id: "plan-form", novalidate: true },
    formError(),
    field("plan", t("field.plan"), {}, select(PLANS.map((p) => [p, t(`plan.${p}`)]), current.plan)),
    field("billing_period", t("field.billing_period"), {}, select(PERIODS.map((p) => [p, t(`period.${p}`)]), current.billing_period)),
    field("seats", t("field.seats"), { type: "number", min: 1, step: 1, value: current.seats, inputmode: "numeric" }),
    preview,
    confirmBox,
    button,
  );
  let previewed = null;
  form.addEventListener("input", (event) => {
    if (event.target.name !== "confirm_downgrade") {
      previewed = null;
      preview.hidden = true;
      confirmBox.hidden = true;
      button.textContent = t("plan.preview");
    }
  });
  const body = () => ({
    plan: value(form, "plan"),
    billing_period: value(form, "billing_period"),
    seats: Number.parseInt(value(form, "seats"), 10) || current.seats,
  });
  onSubmit(form, async (_, key) => {
    if (previewed === null) {
      previewed = await api("POST", accountPath(accountId, "/subscription/preview"), { body: body() });
      preview.replaceChildren(...previewOf(previewed));
      preview.hidden = false;
      confirmBox.hidden = !previewed.needs_confirmation;
      button.textContent = t("plan.confirm");
      button.focus();
      return;
    }
    const answer = await api("PUT", accountPath(accountId, "/subscription"), {
      body: { ...body(), confirm_downgrade: form.elements.namedItem("confirm_downgrade").checked },
      key,
    });
    flash(
      answer.invoice
        ? t("plan.changed_charged", { total: money(answer.invoice.total), number: answer.invoice.number })
        : t("plan.changed"),
    );
    rerender();
  });
  return form;
}

function creditSection(accountId, credit, flash, rerender) {
  const form = h(
    "form",
    { id: "credit-form", novalidate: true },
    formError(),
    field("amount", t("credit.amount", { currency: credit.balance.currency }), { type: "number", min: 1, step: "0.01", inputmode: "decimal", required: true }),
    h("button", { type: "submit", class: "primary" }, t("credit.buy")),
  );
  onSubmit(form, async (_, key) => {
    const amount = Math.round(Number.parseFloat(value(form, "amount").replace(",", ".")) * 100);
    if (!Number.isFinite(amount) || amount <= 0) {
      throw { code: "validation_error", problem: { errors: [{ field: "amount", message: t("credit.amount_invalid") }] } };
    }
    const bought = await api("POST", accountPath(accountId, "/credit"), { body: { amount: { amount, currency: credit.balance.currency } }, key });
    flash(t("credit.bought", { balance: money(bought.balance), number: bought.invoice.number }));
    rerender();
  });
  return h(
    "section",
    { "aria-labelledby": "credit-heading" },
    h("h2", { id: "credit-heading" }, t("credit.title")),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("credit.balance")),
      h("dd", { id: "credit-balance" }, money(credit.balance)),
      h("dt", {}, t("credit.valid_until")),
      h("dd", { id: "credit-valid-until" }, credit.valid_until ? dateTime(credit.valid_until) : "—"),
      h("dt", {}, t("credit.seats")),
      h("dd", {}, t("credit.seats_value", { seats: number(credit.seats), price: money(credit.seat_price) })),
    ),
    h("p", { class: "hint" }, t("credit.rules")),
    form,
  );
}

export async function render({ flash, rerender }) {
  const me = session();
  if (me.role !== "owner") {
    return h("section", {}, h("h1", {}, t("plan.title")), h("p", {}, t("billing.owner_only")));
  }
  let account;
  let current;
  let credit;
  try {
    account = await api("GET", accountPath(me.accountId));
    // The preview of no change is the subscription as it stands (a lifetime deal has none).
    [current, credit] = await Promise.all([
      account.lifetime ? null : api("POST", accountPath(me.accountId, "/subscription/preview"), { body: {} }),
      api("GET", accountPath(me.accountId, "/credit")),
    ]);
  } catch (error) {
    return h("section", {}, h("h1", {}, t("plan.title")), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
  }
  const subscription = current && current.subscription;
  return h(
    "section",
    {},
    h("h1", {}, t("plan.title")),
    subscription
      ? [
          h(
            "p",
            { id: "plan-now" },
            t("plan.now", {
              plan: t(`plan.${subscription.plan}`),
              period: t(`period.${subscription.billing_period}`),
              seats: number(subscription.seats),
            }),
          ),
          subscription.period_end ? h("p", {}, t("plan.period_ends", { date: dateTime(subscription.period_end) })) : null,
          changeForm(me.accountId, account, subscription, flash, rerender),
        ]
      : h("p", { id: "plan-now" }, t("plan.lifetime", { plan: t(`plan.${account.plan}`) })),
    creditSection(me.accountId, credit, flash, rerender),
  );
}
