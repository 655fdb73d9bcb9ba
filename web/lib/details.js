// The billing details form (R-VOUCH-8, R-PAY-14), shared by the billing page and an invoice's
// correction: the country decides which fields its law requires; API errors go next to fields.
import { t, language } from "./i18n.js";
import { h, field, select, value } from "./dom.js";
import { COUNTRIES, REGION_REQUIRED, REGISTRATION_REQUIRED } from "./countries.js";

function countryOptions() {
  const names = new Intl.DisplayNames([language()], { type: "region" });
  return COUNTRIES.map((code) => [code, names.of(code) || code]).sort((a, b) => a[1].localeCompare(b[1], language()));
}

/** The fieldsets of the billing details, filled from ``details`` (or empty). */
export function detailsFields(details) {
  const d = details || {};
  const a = d.address || {};
  const country = select(countryOptions(), a.country || "BG");
  const fields = h(
    "div",
    { class: "details-fields" },
    h(
      "fieldset",
      {},
      h("legend", {}, t("billing.who")),
      field("first_name", t("field.first_name"), { required: true, autocomplete: "given-name", value: d.first_name || "" }),
      field("last_name", t("field.last_name"), { required: true, autocomplete: "family-name", value: d.last_name || "" }),
      field("email", t("field.billing_email"), { type: "email", required: true, autocomplete: "email", value: d.email || "" }),
      field("company", t("field.company_name"), { required: true, autocomplete: "organization", value: d.company || "" }),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("billing.address")),
      field("address.street", t("field.street"), { required: true, autocomplete: "street-address", value: a.street || "" }),
      field("address.city", t("field.city"), { required: true, autocomplete: "address-level2", value: a.city || "" }),
      field("address.postal_code", t("field.postal_code"), { required: true, autocomplete: "postal-code", value: a.postal_code || "" }),
      field("address.region", t("field.region"), { autocomplete: "address-level1", value: a.region || "" }),
      field("address.country", t("field.country"), { required: true }, country),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, t("billing.company_numbers")),
      field("vat_id", t("field.vat_id"), { autocomplete: "off", value: d.vat_id || "", hint: t("field.vat_id_hint") }),
      field("company_registration", t("field.company_registration"), { autocomplete: "off", value: d.company_registration || "" }),
    ),
  );
  const mark = (name, required) => {
    const holder = fields.querySelector(`[data-field="${name}"]`);
    const input = holder.querySelector("input");
    input.required = required;
    let star = holder.querySelector("label .required");
    if (required && !star) {
      holder.querySelector("label").append(h("span", { class: "required" }, " *"));
    } else if (!required && star) {
      star.remove();
    }
  };
  const apply = () => {
    mark("address.region", REGION_REQUIRED.includes(country.value));
    mark("company_registration", REGISTRATION_REQUIRED.includes(country.value));
  };
  country.addEventListener("change", apply);
  apply();
  return fields;
}

/** The billing details as the API takes them, from a form holding ``detailsFields``. */
export function detailsOf(form) {
  const optional = (name) => value(form, name) || null;
  return {
    first_name: value(form, "first_name"),
    last_name: value(form, "last_name"),
    email: value(form, "email"),
    company: value(form, "company"),
    address: {
      street: value(form, "address.street"),
      city: value(form, "address.city"),
      postal_code: value(form, "address.postal_code"),
      region: optional("address.region"),
      country: value(form, "address.country"),
    },
    vat_id: optional("vat_id"),
    company_registration: optional("company_registration"),
  };
}

export const DETAILS_CODES = { invalid_vat_id: "vat_id" };
