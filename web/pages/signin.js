// Sign in with email and password at the identity provider; links to a reset and to sign-up.
import { t } from "../lib/i18n.js";
import { signIn, SignInError } from "../lib/auth.js";
import { h, field, formError, onSubmit, value } from "../lib/dom.js";

export const LAST_EMAIL = "portal.email";
// The page a signed-out visitor asked for (app.js writes it): opened after signing in.
const AFTER_SIGN_IN = "portal.after-sign-in";

export async function render({ navigate, flash }) {
  const form = h(
    "form",
    { id: "sign-in-form", novalidate: true },
    formError(),
    field("email", t("field.email"), {
      type: "email",
      autocomplete: "username",
      required: true,
      value: sessionStorage.getItem(LAST_EMAIL) || "",
    }),
    field("password", t("field.password"), { type: "password", autocomplete: "current-password", required: true }),
    h("button", { type: "submit", class: "primary" }, t("signin.submit")),
  );
  onSubmit(form, async () => {
    try {
      await signIn(value(form, "email"), form.elements.namedItem("password").value);
    } catch (error) {
      if (error instanceof SignInError) {
        const known = ["NotAuthorizedException", "UserNotFoundException", "PasswordResetRequiredException"];
        let code = known.includes(error.type) ? `signin_${error.type}` : "signin_failed";
        if (error.type === "NotAuthorizedException" && /disabled/i.test(error.message)) {
          code = "signin_disabled"; // the account was stopped, suspended or the user removed
        }
        throw { code, problem: {} };
      }
      throw error;
    }
    flash(t("signin.welcome"));
    const after = sessionStorage.getItem(AFTER_SIGN_IN);
    sessionStorage.removeItem(AFTER_SIGN_IN);
    navigate(after || "account");
  });
  return h(
    "section",
    {},
    h("h1", {}, t("signin.title")),
    form,
    h(
      "p",
      {},
      h("a", { href: "#/reset" }, t("signin.forgot")),
      " · ",
      h("a", { href: "#/signup" }, t("nav.signup")),
      " · ",
      h("a", { href: "#/redeem" }, t("nav.redeem")),
    ),
  );
}
