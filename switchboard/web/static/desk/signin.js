/* Signing in (development sign-in or an access token), the stored session, signing out. */

import { clearError, errorText, setStatus, stored } from "./helpers.js";
import { mediaUrls } from "./media.js";
import { renderPlaceholders } from "./offers.js";
import { connect, renewTokens } from "./socket.js";
import { $, BASE_TITLE, DEV_OFF_KEY, IDENTITY, SESSION_KEY, state } from "./state.js";

function decodeClaims(token) {
  const part = String(token).split(".")[1];
  if (!part) return null;
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
}

// A session from a sign-in answer or a bare token (its claims give expiry and identity; the
// signature is the server's business).
export function sessionFrom(answer) {
  let claims = null;
  try {
    claims = decodeClaims(answer.token);
  } catch (err) {
    claims = null;
  }
  if (!answer.expires_at && !(claims && claims.exp)) return null;
  const grants = (claims && claims.grants) || {};
  return {
    token: answer.token,
    expires_at: answer.expires_at || new Date(claims.exp * 1000).toISOString(),
    ttl: answer.ttl || (claims && claims.exp && claims.iat ? claims.exp - claims.iat : 3600),
    identity: answer.identity || grants.identity || "",
    worker_sid: answer.worker_sid || (grants.task_router || {}).worker_sid || null,
  };
}

export const alive = (session) => !!session && Date.parse(session.expires_at) > Date.now() + 5000;
export const saveSession = () => stored(SESSION_KEY, JSON.stringify(state.session));

export function storedSession() {
  try {
    const session = JSON.parse(stored(SESSION_KEY) || "null");
    return session && session.token && alive(session) ? session : null;
  } catch (err) {
    return null;
  }
}

// The operator's sign-in may hand a token over in the fragment; it leaves the address bar (and
// this history entry) at once.
export function tokenFromFragment() {
  if (!location.hash) return null;
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  if (token) history.replaceState(history.state, "", location.pathname + location.search);
  return token;
}

export function showSignIn(reason) {
  $("desk").hidden = true;
  $("signin-screen").hidden = false;
  signInProblem(reason);
  $("dev-signin").hidden = stored(DEV_OFF_KEY) === "1";
  document.title = BASE_TITLE;
  ($("dev-signin").hidden ? $("token") : $("identity")).focus();
}

function signInProblem(message) {
  $("signin-reason").textContent = message || "";
  $("signin-reason").hidden = !message;
}

export function onSignInSubmit(event) {
  event.preventDefault();
  // Enter in the token field submits with the form's first button: go by where the focus is.
  const byToken = $("dev-signin").hidden || document.activeElement === $("token") ||
    (event.submitter && event.submitter.value === "token");
  if (byToken) useToken($("token").value.replace(/\s+/g, ""));
  else devSignIn($("identity").value.trim());
}

async function devSignIn(identity) {
  if (!IDENTITY.test(identity)) return signInProblem("Enter an agent name: 1 to 64 letters, digits or . _ @ -");
  const button = $("signin-form").querySelector("[data-testid=desk-signin-submit]");
  button.disabled = true;
  let response;
  try {
    response = await fetch("/v1/Desk/DevSignIn", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ identity }),
    });
  } catch (err) {
    return signInProblem("The server cannot be reached. Try again in a moment.");
  } finally {
    button.disabled = false;
  }
  if (response.status === 404) {
    // Production: only the operator's own sign-in hands out desk tokens.
    stored(DEV_OFF_KEY, "1");
    $("dev-signin").hidden = true;
    $("token").focus();
    return signInProblem("Development sign-in is off on this server: paste an access token from your organisation's sign-in.");
  }
  if (!response.ok) return signInProblem(`Sign-in failed: ${await errorText(response)}`);
  const session = sessionFrom(await response.json());
  if (!session) return signInProblem("Sign-in failed: the server's answer had no token.");
  start(session);
}

function useToken(token) {
  const session = token ? sessionFrom({ token }) : null;
  if (!session) return signInProblem("That is not an access token.");
  if (!alive(session)) return signInProblem("That access token has expired.");
  start(session);
}

export function start(session) {
  state.session = session;
  saveSession();
  $("token").value = "";
  $("signin-screen").hidden = true;
  $("desk").hidden = false;
  $("me").textContent = session.identity;
  setStatus("Connecting…", "connecting");
  renderPlaceholders();
  renewTokens(session);
  connect();
}

// Everything about this agent is forgotten: socket, timers, lists, the stored token.
export function endSession(reason) {
  if (state.link) state.link.close("signed out");
  if (state.renewal) state.renewal.stop();
  clearTimeout(state.typingTimer);
  clearInterval(state.flashTimer);
  Object.assign(state, {
    session: null, link: null, renewal: null, selected: null, nodes: new Map(),
    worker: { sid: null, activity_sid: null, available: false },
    directory: { queues: [], workers: [], activities: [], flexFlows: [] },
    reservations: new Map(), conversations: new Map(),
  });
  for (const url of mediaUrls.values()) url.then((u) => u && URL.revokeObjectURL(u), () => {});
  mediaUrls.clear();
  stored(SESSION_KEY, null);
  for (const id of ["reservations", "conversations", "activity", "messages"]) $(id).replaceChildren();
  $("chat").hidden = true;
  $("empty").hidden = false;
  clearError();
  showSignIn(reason);
}
