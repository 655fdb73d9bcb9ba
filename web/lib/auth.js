// Sign-in at the identity provider (Cognito's API, unsigned, as a public web client calls it):
// USER_PASSWORD_AUTH over TLS in AWS (no SRP: the app has no build step to ship SRP code with),
// REFRESH_TOKEN_AUTH before the ID token expires, GlobalSignOut on sign-out, ForgotPassword and
// ConfirmForgotPassword for a reset. Tokens live in sessionStorage: gone when the tab closes.
import { config } from "./config.js";

const STORED = "portal.session";
const EARLY_SECONDS = 60; // refresh a little before expiry, so no call carries a dead token

export class SignInError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type; // Cognito's __type, e.g. NotAuthorizedException
  }
}

async function cognito(action, body) {
  const identity = config().identity;
  let answer;
  try {
    answer = await fetch(identity.endpoint.replace(/\/$/, "") + "/", {
      method: "POST",
      headers: {
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
        "Content-Type": "application/x-amz-json-1.1",
      },
      body: JSON.stringify(body),
    });
  } catch (error) {
    throw new SignInError("NetworkError", String(error));
  }
  const text = await answer.text();
  const parsed = text ? JSON.parse(text) : {};
  if (!answer.ok) {
    const type = String(parsed.__type || "UnknownError").split("#").pop();
    throw new SignInError(type, parsed.message || parsed.Message || type);
  }
  return parsed;
}

/** The claims of a JWT (its payload: base64url of UTF-8 JSON). */
export function claims(token) {
  const base64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function remember(result, refreshToken) {
  const id = claims(result.IdToken);
  const session = {
    idToken: result.IdToken,
    accessToken: result.AccessToken,
    refreshToken: result.RefreshToken || refreshToken,
    expiresAt: id.exp,
    accountId: id["custom:account_id"],
    role: id["custom:role"],
    email: id.email || id["cognito:username"],
  };
  sessionStorage.setItem(STORED, JSON.stringify(session));
  return session;
}

export function session() {
  const stored = sessionStorage.getItem(STORED);
  return stored ? JSON.parse(stored) : null;
}

export function forget() {
  sessionStorage.removeItem(STORED);
}

export async function signIn(email, password) {
  const answer = await cognito("InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: config().identity.client_id,
    AuthParameters: { USERNAME: email, PASSWORD: password },
  });
  if (!answer.AuthenticationResult) {
    throw new SignInError(answer.ChallengeName || "ChallengeRequired", answer.ChallengeName || "challenge");
  }
  return remember(answer.AuthenticationResult);
}

/** A fresh session through the refresh token; null (and forgotten) when refused. */
export async function refresh() {
  const current = session();
  if (!current) {
    return null;
  }
  try {
    const answer = await cognito("InitiateAuth", {
      AuthFlow: "REFRESH_TOKEN_AUTH",
      ClientId: config().identity.client_id,
      AuthParameters: { REFRESH_TOKEN: current.refreshToken },
    });
    return remember(answer.AuthenticationResult, current.refreshToken);
  } catch (error) {
    forget();
    return null;
  }
}

/** The ID token for an API call, refreshed first when it is about to expire. */
export async function idToken() {
  let current = session();
  if (current && current.expiresAt - EARLY_SECONDS < Date.now() / 1000) {
    current = await refresh();
  }
  return current ? current.idToken : null;
}

/** Signs out everywhere (the refresh tokens are revoked), then forgets the tokens. */
export async function signOut() {
  const current = session();
  forget();
  if (current) {
    try {
      await cognito("GlobalSignOut", { AccessToken: current.accessToken });
    } catch (error) {
      // Already signed out (an expired or revoked token): the tokens are forgotten either way.
    }
  }
}

export async function forgotPassword(email) {
  return cognito("ForgotPassword", { ClientId: config().identity.client_id, Username: email });
}

export async function confirmForgotPassword(email, code, password) {
  return cognito("ConfirmForgotPassword", {
    ClientId: config().identity.client_id,
    Username: email,
    ConfirmationCode: code,
    Password: password,
  });
}
