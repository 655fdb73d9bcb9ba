// Billing: the details invoices are made out to (the country's required fields, the VAT ID) and
// the card. Locally the payment stand-in's test cards; Stripe Elements when config says stripe.
// A card needing the holder's authentication (402 authentication_required) opens the bank's page
// (next_action_url), then the owner finishes and the same card is charged once.
import { t, money, language } from "../lib/i18n.js";
import { config } from "../lib/config.js";
import { api, accountPath, newKey, ApiError } from "../lib/api.js";
import { session } from "../lib/auth.js";
import { h, formError, onSubmit, messageOf } from "../lib/dom.js";
import { detailsFields, detailsOf, DETAILS_CODES } from "../lib/details.js";
import { cardElement } from "../lib/stripe.js";

/** The payment method as the API shows it (R-PAY-12: brand, last four digits, expiry; never the number). */
function shown(method) {
  if (!method) {
    return t("card.none");
  }
  if (method.type === "paypal") {
    return t("card.current_paypal");
  }
  const expiry = method.exp_month ? `${String(method.exp_month).padStart(2, "0")}/${String(method.exp_year).slice(-2)}` : "—";
  return t("card.current", { brand: (method.brand || "").toUpperCase(), last4: method.last4 || "····", expiry });
}

async function stored(accountId) {
  try {
    return await api("GET", accountPath(accountId, "/billing-details"));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return null; // none given yet
    }
    throw error;
  }
}

function detailsForm(accountId, details, flash, rerender) {
  const form = h(
    "form",
    { id: "billing-details-form", novalidate: true },
    formError(),
    detailsFields(details),
    h("button", { type: "submit", class: "primary" }, t("billing.save_details")),
  );
  form.fieldOfCode = DETAILS_CODES;
  onSubmit(form, async (_, key) => {
    await api("PUT", accountPath(accountId, "/billing-details"), { body: detailsOf(form), key });
    flash(t("billing.details_saved"));
    rerender();
  });
  return form;
}

function testCards() {
  return h(
    "fieldset",
    {},
    h("legend", {}, t("card.test_cards")),
    h("p", { class: "hint" }, t("card.test_cards_hint")),
    config().payment.test_cards.map((card, index) =>
      h(
        "div",
        { class: "field checkbox" },
        h("input", { type: "radio", name: "token", id: `card-${card.token}`, value: card.token, checked: index === 0 }),
        h("label", { for: `card-${card.token}` }, t(`card.outcome_${card.outcome}`), ` (${card.token})`),
      ),
    ),
  );
}

async function cardForm(accountId, flash, rerender) {
  const stripeMode = config().payment.mode === "stripe";
  const mount = h("div", { id: "card-element", class: "card-element" });
  const authentication = h("div", { id: "card-authentication", class: "warning", hidden: true });
  const form = h(
    "form",
    { id: "card-form", novalidate: true },
    formError(),
    stripeMode ? h("div", { class: "field" }, h("p", { class: "hint" }, t("card.stripe_hint")), mount) : testCards(),
    authentication,
    h("button", { type: "submit", class: "primary" }, t("card.save")),
  );
  let tokenOf = async () => form.querySelector("input[name=token]:checked").value;
  if (stripeMode) {
    tokenOf = await cardElement(config().payment.publishable_key, mount, language());
  }
  const charge = async (token, key) => {
    const answer = await api("PUT", accountPath(accountId, "/payment-method"), { body: { type: "card", token }, key });
    flash(
      answer.invoice
        ? t("card.saved_charged", { total: money(answer.invoice.total), number: answer.invoice.number })
        : t("card.saved"),
    );
    rerender();
  };
  onSubmit(form, async (_, key) => {
    const token = await tokenOf();
    try {
      await charge(token, key);
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== "authentication_required") {
        throw error;
      }
      // The bank's page, then a retry of the same card: charged once, after authentication.
      const finish = h("button", { type: "button", id: "finish-authentication" }, t("card.finish"));
      const failed = h("p", { class: "field-error", role: "alert" });
      finish.addEventListener("click", async () => {
        finish.disabled = true;
        try {
          await charge(token, newKey());
        } catch (again) {
          failed.textContent = messageOf(again);
          finish.disabled = false;
        }
      });
      authentication.replaceChildren(
        h("p", {}, h("strong", {}, messageOf(error)), " ", t("card.authenticate_how")),
        h(
          "p",
          {},
          h("a", { href: error.problem.next_action_url, target: "_blank", rel: "noopener", id: "authentication-link" }, t("card.authenticate_open")),
        ),
        finish,
        failed,
      );
      authentication.hidden = false;
      authentication.querySelector("a").focus();
    }
  });
  return form;
}

export async function render({ flash, rerender }) {
  const me = session();
  if (me.role !== "owner") {
    return h("section", {}, h("h1", {}, t("billing.title")), h("p", {}, t("billing.owner_only")));
  }
  let details;
  let account;
  try {
    [details, account] = await Promise.all([stored(me.accountId), api("GET", accountPath(me.accountId))]);
  } catch (error) {
    return h("section", {}, h("h1", {}, t("billing.title")), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
  }
  const parts = [
    h("h1", {}, t("billing.title")),
    h(
      "section",
      { "aria-labelledby": "details-heading" },
      h("h2", { id: "details-heading" }, t("billing.details")),
      h("p", {}, t(details ? "billing.details_intro_given" : "billing.details_intro")),
      detailsForm(me.accountId, details, flash, rerender),
    ),
  ];
  if (details) {
    parts.push(
      h(
        "section",
        { "aria-labelledby": "card-heading" },
        h("h2", { id: "card-heading" }, t("card.title")),
        h("p", { id: "current-card" }, shown(account.payment_method)),
        account.status === "trialing" ? h("p", {}, t("card.intro")) : null,
        await cardForm(me.accountId, flash, rerender),
      ),
    );
  }
  return h("section", {}, ...parts);
}

