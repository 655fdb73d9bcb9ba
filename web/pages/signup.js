// Sign up for a trial (plan, billing period) or redeem a voucher code (#/redeem): the person, the
// company, the Terms and authority checkboxes, and the password to sign in with.
import { t } from "../lib/i18n.js";
import { humanCheck } from "../lib/human.js";
import { api } from "../lib/api.js";
import { h, field, select, checkbox, formError, onSubmit, value, checked } from "../lib/dom.js";
import { LAST_EMAIL } from "./signin.js";

export const PLANS = ["free", "ticket", "ticket-chat", "all-inclusive"];
export const PERIODS = ["monthly", "annual"];

function termsLink() {
  return h("a", { href: "#/terms", target: "_blank", rel: "noopener" }, t("signup.terms_link"));
}

export async function render({ page, navigate, flash }) {
  const redeeming = page === "redeem";
  const human = humanCheck();
  const form = h(
    "form",
    { id: redeeming ? "redeem-form" : "signup-form", novalidate: true },
    formError(),
    redeeming
      ? field("code", t("field.code"), { required: true, autocomplete: "off", spellcheck: "false" })
      : h(
          "fieldset",
          {},
          h("legend", {}, t("signup.plan_legend")),
          field(
            "plan",
            t("field.plan"),
            { required: true },
            select(
              PLANS.map((plan) => [plan, t(`plan.${plan}`)]),
              "ticket",
            ),
          ),
          field(
            "billing_period",
            t("field.billing_period"),
            { required: true },
            select(
              PERIODS.map((period) => [period, t(`period.${period}`)]),
              "monthly",
            ),
          ),
        ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("signup.you_legend")),
      field("full_name", t("field.full_name"), { autocomplete: "name", required: true }),
      field("email", t("field.email"), { type: "email", autocomplete: "email", required: true }),
      field("birth_date", t("field.birth_date"), { type: "date", autocomplete: "bday", required: true }),
      field("company_name", t("field.company_name"), { autocomplete: "organization", required: true }),
      field("password", t("field.password"), {
        type: "password",
        autocomplete: "new-password",
        minlength: 12,
        hint: t("field.password_hint"),
      }),
    ),
    checkbox("accept_terms", t("signup.accept_terms_before"), " ", termsLink()),
    checkbox("authority_to_bind", t("signup.authority"), " ", termsLink()),
    human.element,
    h("button", { type: "submit", class: "primary" }, t(redeeming ? "redeem.submit" : "signup.submit")),
  );
  // The API names these fields in errors[]; these codes belong to one field too.
  form.fieldOfCode = {
    terms_not_accepted: "accept_terms",
    underage: "birth_date",
    email_taken: "email",
    voucher_not_found: "code",
    voucher_already_redeemed: "code",
    voucher_expired: "code",
    voucher_revoked: "code",
  };
  onSubmit(form, async (_, key) => {
    const body = {
      full_name: value(form, "full_name"),
      email: value(form, "email"),
      company_name: value(form, "company_name"),
      birth_date: value(form, "birth_date") || null,
      accept_terms: checked(form, "accept_terms"),
      authority_to_bind: checked(form, "authority_to_bind"),
      human_token: await human.token(),
    };
    const password = form.elements.namedItem("password").value;
    if (password) {
      body.password = password;
    }
    if (redeeming) {
      body.code = value(form, "code");
    } else {
      body.plan = value(form, "plan");
      body.billing_period = value(form, "billing_period");
    }
    const account = await api("POST", redeeming ? "/redemptions" : "/signups", { body, key, auth: false });
    sessionStorage.setItem(LAST_EMAIL, body.email);
    flash(
      t(password ? "signup.done_sign_in" : "signup.done_no_password", {
        subdomain: account.subdomain,
        email: body.email,
      }),
    );
    navigate("signin");
  });
  return h(
    "section",
    {},
    h("h1", {}, t(redeeming ? "redeem.title" : "signup.title")),
    h("p", {}, t(redeeming ? "redeem.intro" : "signup.intro")),
    form,
  );
}
