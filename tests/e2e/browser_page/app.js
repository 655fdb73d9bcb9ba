// Signs in at the identity provider as a web client does (Cognito's unsigned InitiateAuth,
// USER_PASSWORD_AUTH), then reads the signed-in person's account from the API with the ID
// token. #status's data-state says how far it got: idle, working, signin-refused, api-refused,
// api-unreachable (the browser refused the request: CORS, or nothing listening) or done.
"use strict";

const config = new URLSearchParams(window.location.search);
const status = document.getElementById("status");
const result = document.getElementById("result");

function show(state, text, body) {
  status.dataset.state = state;
  status.textContent = text;
  result.textContent = body === undefined ? "" : JSON.stringify(body, null, 2);
}

async function signIn(email, password) {
  const answer = await fetch(config.get("idp") + "/", {
    method: "POST",
    headers: {
      "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      "Content-Type": "application/x-amz-json-1.1",
    },
    body: JSON.stringify({
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: config.get("client"),
      AuthParameters: { USERNAME: email, PASSWORD: password },
    }),
  });
  const body = await answer.json();
  if (!answer.ok) {
    throw new Error(`${body.__type}: ${body.message}`);
  }
  return body.AuthenticationResult.IdToken;
}

function claims(token) {
  // The JWT's payload: base64url of UTF-8 JSON.
  const base64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  show("working", "Signing in…");
  let token;
  try {
    token = await signIn(document.getElementById("email").value, document.getElementById("password").value);
  } catch (error) {
    show("signin-refused", `Sign-in refused: ${error.message}`);
    return;
  }
  const accountId = claims(token)["custom:account_id"];
  const path = `/accounts/${encodeURIComponent(accountId)}`;
  show("working", `Signed in; reading ${path}…`);
  let answer;
  try {
    answer = await fetch(config.get("api") + path, { headers: { Authorization: `Bearer ${token}` } });
  } catch (error) {
    show("api-unreachable", `GET ${path} failed in the browser: ${error}`);
    return;
  }
  const body = await answer.json();
  show(answer.ok ? "done" : "api-refused", `GET ${path}: ${answer.status}`, body);
});
