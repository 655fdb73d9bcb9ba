// The portal's shell: run-time config, a hash router (#/page), one module per page, the
// language switch, and focus moved to each page's heading after navigation.
import { loadConfig } from "./lib/config.js";
import { t, has, language, languages, setLanguage, onLanguage } from "./lib/i18n.js";
import { session, signOut } from "./lib/auth.js";
import { h, messageOf } from "./lib/dom.js";
import * as signin from "./pages/signin.js";
import * as signup from "./pages/signup.js";
import * as reset from "./pages/reset.js";
import * as terms from "./pages/terms.js";
import * as account from "./pages/account.js";
import * as users from "./pages/users.js";
import * as billing from "./pages/billing.js";
import * as invoices from "./pages/invoices.js";
import * as plan from "./pages/plan.js";
import * as stop from "./pages/stop.js";
import * as privacy from "./pages/privacy.js";

// name → [module, needs a session]
const PAGES = {
  signin: [signin, false],
  signup: [signup, false],
  redeem: [signup, false],
  reset: [reset, false],
  terms: [terms, false],
  privacy: [privacy, false],
  account: [account, true],
  users: [users, true],
  billing: [billing, true],
  invoices: [invoices, true],
  invoice: [invoices, true],
  plan: [plan, true],
  stop: [stop, true],
};
const NAV_SIGNED_IN = ["account", "users", "billing", "invoices", "plan", "stop", "privacy"];
// What only the owner may do (API.md: billing details, payment method, subscription, credit, cancel).
const OWNER_ONLY = ["billing", "plan", "stop"];
const NAV_SIGNED_OUT = ["signin", "signup", "redeem", "privacy"];
let flashText = "";
// The page a signed-out visitor asked for, opened after signing in (pages/signin.js reads it).
const AFTER_SIGN_IN = "portal.after-sign-in";
// An emailed privacy link the portal was opened with (pages/privacy.js fills it in).
const PRIVACY_LINK = "portal.privacy-link";

export function navigate(page) {
  if (location.hash === `#/${page}`) {
    render();
  } else {
    location.hash = `#/${page}`;
  }
}

/** A message shown (and announced) above the next page, e.g. "You are signed out." */
export function flash(text) {
  flashText = text;
}

/** The page's name and its parameter: #/invoice/inv_1 → ["invoice", "inv_1"]. */
function current() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  if (name in PAGES) {
    return [name, rest.map(decodeURIComponent).join("/")];
  }
  return [session() ? "account" : "signin", ""];
}

function renderChrome(page) {
  document.getElementById("skip-link").textContent = t("shell.skip");
  document.getElementById("brand").textContent = t("shell.brand");
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("shell.nav"));
  const me = session();
  const names = !me ? NAV_SIGNED_OUT : NAV_SIGNED_IN.filter((name) => me.role === "owner" || !OWNER_ONLY.includes(name));
  nav.replaceChildren(
    h(
      "ul",
      {},
      names.map((name) =>
        h("li", {}, h("a", { href: `#/${name}`, "aria-current": name === page ? "page" : null }, t(`nav.${name}`))),
      ),
    ),
  );
  const tools = document.getElementById("tools");
  nav.querySelectorAll("a").forEach((link) => {
    if (page === "invoice" && link.getAttribute("href") === "#/invoices") {
      link.setAttribute("aria-current", "page");
    }
  });
  const switcher = h(
    "div",
    { class: "languages", role: "group", "aria-label": t("shell.language") },
    languages().map((code) =>
      h(
        "button",
        {
          type: "button",
          lang: code,
          "aria-pressed": String(code === language()),
          "data-language": code,
          onclick: () => setLanguage(code),
        },
        t(`language.${code}`),
      ),
    ),
  );
  const out = session()
    ? h(
        "button",
        {
          type: "button",
          id: "sign-out",
          onclick: async () => {
            await signOut();
            flash(t("signin.signed_out"));
            navigate("signin");
          },
        },
        t("nav.sign_out"),
      )
    : null;
  tools.replaceChildren(switcher, ...(out ? [out] : []));
}

let rendering = 0;

async function render({ focus = true } = {}) {
  const [page, param] = current();
  const [module, needsSession] = PAGES[page];
  if (needsSession && !session()) {
    // Back to this page once signed in (a notice's link to the billing page, say).
    sessionStorage.setItem(AFTER_SIGN_IN, param ? `${page}/${param}` : page);
    flash(t("signin.needed"));
    navigate("signin");
    return;
  }
  const turn = ++rendering;
  renderChrome(page);
  const main = document.getElementById("main");
  const flashBox = document.getElementById("flash");
  flashBox.textContent = flashText;
  flashBox.hidden = !flashText;
  flashText = "";
  main.setAttribute("aria-busy", "true");
  let content;
  try {
    content = await module.render({ page, param, navigate, flash, rerender: () => render({ focus: false }) });
  } catch (error) {
    // A page that could not be built (the API unreachable mid-way, say) says so; nothing is left half-drawn.
    console.error(error);
    content = h("section", {}, h("h1", {}, has(`nav.${page}`) ? t(`nav.${page}`) : t("shell.brand")), h("p", { class: "form-error", role: "alert" }, messageOf(error)));
  }
  if (turn !== rendering) {
    return; // a later navigation won
  }
  main.replaceChildren(content);
  main.removeAttribute("aria-busy");
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : ""} – ${t("shell.brand")}`;
  if (focus && heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
  main.dataset.page = page;
}

function fromPath() {
  // A notice's link (…/accounts/{id}/billing) opens the app at that page.
  const match = location.pathname.match(/^\/accounts\/[^/]+\/(\w+)\/?$/);
  if (match) {
    history.replaceState(null, "", `/#/${match[1] in PAGES ? match[1] : "account"}`);
  }
  // An email's privacy link where PublicBaseUrl is the portal: its page, the link filled in.
  if (/^\/privacy\/(requests\/[^/]+\/verification|exports\/[^/]+|unsubscribe)$/.test(location.pathname)) {
    sessionStorage.setItem(PRIVACY_LINK, location.href);
    history.replaceState(null, "", "/#/privacy");
  }
}

async function start() {
  try {
    await loadConfig();
  } catch (error) {
    document.getElementById("main").replaceChildren(h("h1", {}, t("shell.no_config")), h("p", {}, String(error)));
    return;
  }
  fromPath();
  // The skip link moves focus without touching the route (its #main is not a page).
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash === "" || location.hash.startsWith("#/")) {
      render();
    }
  });
  window.addEventListener("portal:signed-out", () => {
    flash(t("signin.expired"));
    navigate("signin");
  });
  onLanguage(() => render({ focus: false }));
  await render({ focus: false });
  document.body.dataset.ready = "true";
}

start();
