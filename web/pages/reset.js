// Password reset at the identity provider: a code is sent to the email (ForgotPassword), then the
// code and a new password set it (ConfirmForgotPassword).
import { t } from "../lib/i18n.js";
import { forgotPassword, confirmForgotPassword, SignInError } from "../lib/auth.js";
import { h, field, formError, onSubmit, value } from "../lib/dom.js";
import { LAST_EMAIL } from "./signin.js";

function asProblem(error) {
  if (error instanceof SignInError) {
    const known = ["CodeMismatchException", "ExpiredCodeException", "InvalidPasswordException", "LimitExceededException"];
    return { code: known.includes(error.type) ? `signin_${error.type}` : "signin_failed", problem: {} };
  }
  return error;
}

export async function render({ navigate, flash }) {
  const ask = h(
    "form",
    { id: "reset-ask-form", novalidate: true },
    formError(),
    field("email", t("field.email"), { type: "email", autocomplete: "username", required: true }),
    h("button", { type: "submit", class: "primary" }, t("reset.send")),
  );
  const confirm = h(
    "form",
    { id: "reset-confirm-form", novalidate: true, hidden: true },
    formError(),
    field("code", t("reset.code"), { autocomplete: "one-time-code", required: true }),
    field("password", t("field.new_password"), {
      type: "password",
      autocomplete: "new-password",
      minlength: 12,
      required: true,
      hint: t("field.password_hint"),
    }),
    h("button", { type: "submit", class: "primary" }, t("reset.confirm")),
  );
  const sent = h("p", { id: "reset-sent", role: "status" });
  onSubmit(ask, async () => {
    try {
      await forgotPassword(value(ask, "email"));
    } catch (error) {
      throw asProblem(error);
    }
    sent.textContent = t("reset.sent", { email: value(ask, "email") });
    confirm.hidden = false;
    confirm.elements.namedItem("code").focus();
  });
  onSubmit(confirm, async () => {
    const email = value(ask, "email");
    try {
      await confirmForgotPassword(email, value(confirm, "code"), confirm.elements.namedItem("password").value);
    } catch (error) {
      throw asProblem(error);
    }
    sessionStorage.setItem(LAST_EMAIL, email);
    flash(t("reset.done"));
    navigate("signin");
  });
  return h("section", {}, h("h1", {}, t("reset.title")), h("p", {}, t("reset.intro")), ask, sent, confirm);
}
