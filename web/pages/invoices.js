// Invoices and credit notes: the list (newest first), one document with its lines (printable:
// styles.css's print rules leave only the document), and a correction of the billing details
// on the latest invoice within its window (R-PAY-13: a credit note and a reissued invoice).
import { t, has, money, date, dateTime, number } from "../lib/i18n.js";
import { api, accountPath } from "../lib/api.js";
import { session } from "../lib/auth.js";
import { h, formError, onSubmit, messageOf } from "../lib/dom.js";
import { detailsFields, detailsOf, DETAILS_CODES } from "../lib/details.js";

// API.md "Corrections": within 15 days of the latest invoice's issue (the API decides; the
// form is offered only while the window is open).
const CORRECTION_DAYS = 15;

function failed(title, error) {
  return h("section", {}, h("h1", {}, title), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
}

function list(items) {
  if (!items.length) {
    return h("p", { id: "no-invoices" }, t("invoices.none"));
  }
  return h(
    "table",
    { id: "invoices" },
    h("caption", { class: "visually-hidden" }, t("invoices.title")),
    h(
      "thead",
      {},
      h("tr", {}, ["invoices.number", "invoices.kind", "invoices.issued", "invoices.period", "invoices.total"].map((k) => h("th", { scope: "col" }, t(k)))),
    ),
    h(
      "tbody",
      {},
      items.map((item) =>
        h(
          "tr",
          { "data-invoice": item.number },
          h("td", {}, h("a", { href: `#/invoice/${encodeURIComponent(item.id)}` }, item.number)),
          h("td", {}, t(`invoices.kind_${item.kind}`)),
          h("td", {}, date(item.issued_at)),
          h("td", {}, `${date(item.period_start)} – ${date(item.period_end)}`),
          h("td", { class: "money" }, money(item.total)),
        ),
      ),
    ),
  );
}

function address(details) {
  if (!details) {
    return h("p", {}, "—");
  }
  const a = details.address || {};
  return h(
    "address",
    { id: "invoice-to" },
    [
      details.company,
      `${details.first_name} ${details.last_name}`,
      a.street,
      `${a.postal_code} ${a.city}${a.region ? `, ${a.region}` : ""}`,
      a.country,
      details.vat_id ? `${t("field.vat_id")}: ${details.vat_id}` : null,
      details.company_registration ? `${t("field.company_registration")}: ${details.company_registration}` : null,
    ]
      .filter(Boolean)
      .flatMap((line) => [line, h("br")]),
  );
}

function correctionForm(accountId, invoice, navigate, flash) {
  const form = h(
    "form",
    { id: "correction-form", novalidate: true },
    formError(),
    detailsFields(invoice.billing_details),
    h("button", { type: "submit", class: "primary" }, t("invoices.correct_submit")),
  );
  form.fieldOfCode = DETAILS_CODES;
  onSubmit(form, async (_, key) => {
    const answer = await api("POST", accountPath(accountId, `/invoices/${encodeURIComponent(invoice.id)}/corrections`), {
      body: { billing_details: detailsOf(form) },
      key,
    });
    flash(t("invoices.corrected", { credit_note: answer.credit_note.number, invoice: answer.invoice.number }));
    navigate(`invoice/${encodeURIComponent(answer.invoice.id)}`);
  });
  const closes = new Date(Date.parse(invoice.issued_at) + CORRECTION_DAYS * 86_400_000).toISOString();
  return h(
    "section",
    { "aria-labelledby": "correct-heading", class: "no-print" },
    h("h2", { id: "correct-heading" }, t("invoices.correct_title")),
    h("p", {}, t("invoices.correct_intro", { until: dateTime(closes) })),
    form,
  );
}

async function one(me, id, navigate, flash) {
  let invoice;
  let all;
  try {
    [invoice, all] = await Promise.all([
      api("GET", accountPath(me.accountId, `/invoices/${encodeURIComponent(id)}`)),
      api("GET", accountPath(me.accountId, "/invoices")),
    ]);
  } catch (error) {
    return failed(t("invoices.title"), error);
  }
  const latest = all.items.find((item) => item.kind === "invoice");
  const open = Date.now() < Date.parse(invoice.issued_at) + CORRECTION_DAYS * 86_400_000;
  const correctable =
    me.role === "owner" && invoice.kind === "invoice" && latest && latest.id === invoice.id && invoice.status !== "credited" && open;
  const lines = h(
    "table",
    { id: "invoice-lines" },
    h("caption", { class: "visually-hidden" }, t("invoices.lines")),
    h(
      "thead",
      {},
      h("tr", {}, ["invoices.description", "invoices.quantity", "invoices.unit_price", "invoices.amount"].map((k) => h("th", { scope: "col" }, t(k)))),
    ),
    h(
      "tbody",
      {},
      invoice.lines.map((line) =>
        h(
          "tr",
          {},
          h("td", {}, line.description, line.period_start ? h("div", { class: "hint" }, `${dateTime(line.period_start)} – ${dateTime(line.period_end)} · ${line.rule}`) : null),
          h("td", {}, number(line.quantity)),
          h("td", { class: "money" }, money(line.unit_price)),
          h("td", { class: "money" }, money(line.amount)),
        ),
      ),
    ),
    h(
      "tfoot",
      {},
      [["invoices.subtotal", invoice.subtotal], ["invoices.tax", invoice.tax], ["invoices.total", invoice.total]].map(([key, amount]) =>
        h("tr", {}, h("th", { scope: "row", colspan: "3" }, t(key)), h("td", { class: "money", id: `invoice-${key.split(".")[1]}` }, money(amount))),
      ),
    ),
  );
  return h(
    "section",
    { class: "invoice" },
    h("p", { class: "no-print" }, h("a", { href: "#/invoices" }, t("invoices.back"))),
    h("h1", {}, t(`invoices.kind_${invoice.kind}`), " ", invoice.number),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("invoices.issued")),
      h("dd", {}, dateTime(invoice.issued_at)),
      h("dt", {}, t("invoices.period")),
      h("dd", {}, `${date(invoice.period_start)} – ${date(invoice.period_end)}`),
      h("dt", {}, t("invoices.status")),
      h("dd", { id: "invoice-status" }, has(`invoice_status.${invoice.status}`) ? t(`invoice_status.${invoice.status}`) : invoice.status),
      invoice.corrects ? [h("dt", {}, t("invoices.corrects")), h("dd", {}, h("a", { href: `#/invoice/${encodeURIComponent(invoice.corrects)}` }, invoice.corrects))] : [],
      invoice.vat_check
        ? [h("dt", {}, t("invoices.vat_check")), h("dd", {}, t("invoices.vat_check_value", { vat_id: invoice.vat_check.vat_id, date: dateTime(invoice.vat_check.checked_at), reference: invoice.vat_check.reference }))]
        : [],
    ),
    h("h2", {}, t("invoices.to")),
    address(invoice.billing_details),
    lines,
    h("p", { class: "no-print" }, h("button", { type: "button", id: "print", onclick: () => window.print() }, t("invoices.print"))),
    correctable ? correctionForm(me.accountId, invoice, navigate, flash) : null,
  );
}

export async function render({ page, param, navigate, flash }) {
  const me = session();
  if (page === "invoice" && param) {
    return one(me, param, navigate, flash);
  }
  let items;
  try {
    items = (await api("GET", accountPath(me.accountId, "/invoices"))).items;
  } catch (error) {
    return failed(t("invoices.title"), error);
  }
  return h("section", {}, h("h1", {}, t("invoices.title")), list(items));
}
