// The human check of a signup or a redemption (R-REG-2): locally the runtime's deterministic
// verifier's token from config.json; in AWS Cloudflare Turnstile's widget (its script and frame
// from challenges.cloudflare.com, the CSP allows them), whose token the API verifies.
import { config } from "./config.js";
import { language } from "./i18n.js";
import { h } from "./dom.js";

let loading = null;

function turnstile() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit";
      script.onload = () => resolve(window.turnstile);
      script.onerror = () => reject(new Error("Turnstile did not load"));
      document.head.append(script);
    });
  }
  return loading;
}

/** The check's element for a form, and a function giving its token when the form is sent. */
export function humanCheck() {
  const check = config().human_check;
  if (check.provider !== "turnstile") {
    return { element: null, token: async () => check.token };
  }
  const element = h("div", { class: "human-check" });
  let token = null;
  let widget = null;
  turnstile().then((api) => {
    widget = api.render(element, {
      sitekey: check.site_key,
      language: language(),
      callback: (value) => {
        token = value;
      },
      "expired-callback": () => {
        token = null;
      },
    });
  });
  return {
    element,
    token: async () => {
      const value = token;
      if (widget !== null) {
        window.turnstile.reset(widget); // a token is good for one request
        token = null;
      }
      if (!value) {
        throw { code: "bot_suspected", problem: {} };
      }
      return value;
    },
  };
}
