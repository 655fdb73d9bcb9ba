// Data subject requests (R-GDPR): ask (access, rectification, erasure, …), confirm the request
// with the emailed link, and download the export an access or portability request produced.
import { t, dateTime } from "../lib/i18n.js";
import { api } from "../lib/api.js";
import { session } from "../lib/auth.js";
import { h, field, select, formError, onSubmit, value } from "../lib/dom.js";

const TYPES = ["access", "portability", "rectification", "erasure", "restriction", "objection", "withdraw_consent"];

/** The request id and token of an emailed link: …/privacy/requests/{id}/verification?token=… */
function linkParts(text, kind) {
  let url;
  try {
    url = new URL(text.trim());
  } catch (error) {
    return null;
  }
  const pattern = kind === "export" ? /\/privacy\/exports\/([^/]+)$/ : /\/privacy\/requests\/([^/]+)\/verification$/;
  const match = url.pathname.match(pattern);
  const token = url.searchParams.get("token");
  return match && token ? { id: decodeURIComponent(match[1]), token } : null;
}

function badLink() {
  return { code: "validation_error", problem: { errors: [{ field: "link", message: t("privacy.bad_link") }] } };
}

/** R-GDPR-9: the marketing emails' unsubscribe link, confirmed with one button. */
function unsubscribeForm(token) {
  const form = h(
    "form",
    { id: "unsubscribe-form", novalidate: true },
    formError(),
    h("p", {}, t("privacy.unsubscribe_intro")),
    h("button", { type: "submit", class: "primary" }, t("privacy.unsubscribe")),
  );
  const done = h("p", { id: "unsubscribed", role: "status" });
  onSubmit(form, async (_, key) => {
    await api("POST", `/privacy/unsubscribe?token=${encodeURIComponent(token)}`, { body: { token }, key, auth: false });
    done.textContent = t("privacy.unsubscribed");
    form.hidden = true;
  });
  return h("section", { "aria-labelledby": "unsubscribe-heading" }, h("h2", { id: "unsubscribe-heading" }, t("privacy.unsubscribe_title")), form, done);
}

export async function render() {
  const me = session();
  const ask = h(
    "form",
    { id: "privacy-form", novalidate: true },
    formError(),
    field("type", t("privacy.type"), {}, select(TYPES.map((type) => [type, t(`privacy.type_${type}`)]), "access")),
    field("email", t("field.email"), { type: "email", required: true, autocomplete: "email", value: (me && me.email) || "" }),
    field("details", t("privacy.details"), {}, h("textarea", { rows: 3 })),
    h("button", { type: "submit", class: "primary" }, t("privacy.submit")),
  );
  const received = h("p", { id: "privacy-received", role: "status" });
  onSubmit(ask, async (_, key) => {
    const body = { type: value(ask, "type"), email: value(ask, "email") };
    if (value(ask, "details")) {
      body.details = value(ask, "details");
    }
    const request = await api("POST", "/privacy/requests", { body, key, auth: false });
    received.textContent = t("privacy.received", { due: dateTime(request.due_at), email: body.email });
  });

  const verify = h(
    "form",
    { id: "privacy-verify-form", novalidate: true },
    formError(),
    field("link", t("privacy.verify_link"), { type: "url", required: true, autocomplete: "off" }),
    h("button", { type: "submit" }, t("privacy.verify_submit")),
  );
  const verified = h("p", { id: "privacy-verified", role: "status" });
  onSubmit(verify, async (_, key) => {
    const parts = linkParts(value(verify, "link"), "verify");
    if (!parts) {
      throw badLink();
    }
    const path = `/privacy/requests/${encodeURIComponent(parts.id)}/verification?token=${encodeURIComponent(parts.token)}`;
    await api("POST", path, { key, auth: false });
    verified.textContent = t("privacy.verified");
  });

  const download = h(
    "form",
    { id: "privacy-export-form", novalidate: true },
    formError(),
    field("link", t("privacy.export_link"), { type: "url", required: true, autocomplete: "off" }),
    h("button", { type: "submit" }, t("privacy.export_submit")),
  );
  const saved = h("p", { id: "privacy-export-saved", role: "status" });
  onSubmit(download, async () => {
    const parts = linkParts(value(download, "link"), "export");
    if (!parts) {
      throw badLink();
    }
    const path = `/privacy/exports/${encodeURIComponent(parts.id)}?token=${encodeURIComponent(parts.token)}`;
    const document_ = await api("GET", path, { auth: false });
    // The export is saved as a file in the browser; it is downloadable once (R-GDPR-3).
    const blob = new Blob([JSON.stringify(document_, null, 2)], { type: "application/json" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `export-${parts.id}.json`, id: "export-file" }, t("privacy.export_save"));
    saved.replaceChildren(t("privacy.export_ready"), " ", link);
    link.click();
  });

  // Opened from an emailed link (app.js kept it): that link in its form, or the unsubscribe.
  const opened = sessionStorage.getItem("portal.privacy-link");
  let unsubscribe = null;
  if (opened) {
    sessionStorage.removeItem("portal.privacy-link");
    const url = new URL(opened);
    if (url.pathname === "/privacy/unsubscribe") {
      unsubscribe = unsubscribeForm(url.searchParams.get("token") || "");
    } else {
      const target = linkParts(opened, "export") ? download : verify;
      target.elements.namedItem("link").value = opened;
    }
  }
  return h(
    "section",
    {},
    h("h1", {}, t("privacy.title")),
    unsubscribe,
    h("p", {}, t("privacy.intro")),
    ask,
    received,
    h("h2", {}, t("privacy.verify_title")),
    verify,
    verified,
    h("h2", {}, t("privacy.export_title")),
    download,
    saved,
  );
}
