// Every visible text comes from a dictionary (i18n/en.js, i18n/bg.js); numbers, money and dates
// are formatted for the chosen locale with Intl. The choice is remembered in localStorage.
import en from "../i18n/en.js";
import bg from "../i18n/bg.js";

const DICTIONARIES = { en, bg };
const LOCALES = { en: "en-GB", bg: "bg-BG" };
const STORED = "portal.language";
const listeners = [];

function initial() {
  const stored = localStorage.getItem(STORED);
  if (stored in DICTIONARIES) {
    return stored;
  }
  return (navigator.language || "en").toLowerCase().startsWith("bg") ? "bg" : "en";
}

let current = initial();

export function language() {
  return current;
}

export function languages() {
  return Object.keys(DICTIONARIES);
}

export function setLanguage(code) {
  if (!(code in DICTIONARIES) || code === current) {
    return;
  }
  current = code;
  localStorage.setItem(STORED, code);
  document.documentElement.lang = code;
  listeners.forEach((listener) => listener(code));
}

export function onLanguage(listener) {
  listeners.push(listener);
}

/** The text of ``key`` in the current language, ``{name}`` replaced from ``params``. */
export function t(key, params = {}) {
  const text = DICTIONARIES[current][key] ?? DICTIONARIES.en[key];
  if (text === undefined) {
    console.error(`no text for ${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function has(key) {
  return key in DICTIONARIES[current] || key in DICTIONARIES.en;
}

/** A Money object ({amount: cents, currency}) in the current locale. */
export function money(value) {
  if (value === null || value === undefined) {
    return "—";
  }
  return new Intl.NumberFormat(LOCALES[current], { style: "currency", currency: value.currency }).format(
    value.amount / 100,
  );
}

export function number(value) {
  return new Intl.NumberFormat(LOCALES[current]).format(value);
}

/** An ISO 8601 instant as a date and time in the browser's time zone. */
export function dateTime(iso) {
  if (!iso) {
    return "—";
  }
  return new Intl.DateTimeFormat(LOCALES[current], { dateStyle: "long", timeStyle: "short" }).format(new Date(iso));
}

export function date(iso) {
  if (!iso) {
    return "—";
  }
  return new Intl.DateTimeFormat(LOCALES[current], { dateStyle: "long" }).format(new Date(iso));
}

document.documentElement.lang = current;
