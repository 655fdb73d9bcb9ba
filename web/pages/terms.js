// The Terms' text (the Bulgarian original: the Terms' language), as the config names it.
import { t } from "../lib/i18n.js";
import { config } from "../lib/config.js";
import { h } from "../lib/dom.js";

export async function render() {
  let paragraphs;
  try {
    const answer = await fetch(config().terms_url);
    if (!answer.ok) {
      throw new Error(String(answer.status));
    }
    const text = await answer.text();
    paragraphs = text
      .split(/\n+/)
      .filter((line) => line.trim())
      .map((line) => h("p", {}, line));
  } catch (error) {
    paragraphs = [h("p", { class: "form-error" }, t("terms.unavailable"))];
  }
  return h(
    "section",
    {},
    h("h1", {}, t("terms.title")),
    h("p", { class: "hint" }, t("terms.original")),
    h("div", { class: "terms", lang: "bg" }, paragraphs),
  );
}
