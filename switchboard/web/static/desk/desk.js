/*
 * Switchboard agent desk (served at /desk/, same origin as the API): this module wires the page
 * and starts the desk; the others hold one concern each (state, signin, socket, events, activity,
 * offers, outbound, conversation, log, receipts, composer, canned, media, task-actions). Plain ES modules,
 * no build step.
 *
 * One WebSocket to /v1/agent/ws carries everything (docs/agent-socket.md): a `ready` snapshot,
 * then the agent's events in sequence order, and command/result/error frames. It is the shared
 * resumable socket (../shared/resumable-socket.js): it keeps the last sequence it saw and resumes
 * from it after any drop, so a reconnect misses nothing; commands still unanswered when the socket
 * dropped are sent again (send_message with the same idempotency key, so the server stores the
 * message once).
 *
 * Security: whatever comes from the server or a customer (bodies, names, attributes, errors) is
 * put in the page as text (textContent, text nodes, attribute values), never parsed as HTML.
 */

import { onActivityChange } from "./activity.js";
import { setupCanned } from "./canned.js";
import { closeTemplate, onComposerInput, onComposerKey, onFileChosen, sendFromComposer, sendTemplate } from "./composer.js";
import { closeConversation, selectedConversation } from "./conversation.js";
import { clearError } from "./helpers.js";
import { onLogScroll } from "./log.js";
import { wireNotes } from "./notes.js";
import { tickWaits, updateTitle } from "./offers.js";
import { closeOutbound, openOutbound, startOutbound } from "./outbound.js";
import { wirePast } from "./past.js";
import { markRead } from "./receipts.js";
import { alive, endSession, onSignInSubmit, sessionFrom, showSignIn, start, storedSession, tokenFromFragment } from "./signin.js";
import { $, state } from "./state.js";
import { wireSupervisor } from "./supervisor.js";
import { closeTransfer, confirmTransfer, openTransfer, taskCommand } from "./task-actions.js";

function wire() {
  $("signin-form").addEventListener("submit", onSignInSubmit);
  $("signout").addEventListener("click", () => endSession(""));
  $("activity").addEventListener("change", onActivityChange);
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendFromComposer();
  });
  setupCanned();
  $("input").addEventListener("keydown", onComposerKey);
  $("input").addEventListener("input", onComposerInput);
  $("messages").addEventListener("scroll", onLogScroll, { passive: true });
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", onFileChosen);
  $("wrapup").addEventListener("click", () => taskCommand("wrapup"));
  $("complete").addEventListener("click", () => taskCommand("complete"));
  $("transfer").addEventListener("click", openTransfer);
  $("transfer-confirm").addEventListener("click", confirmTransfer);
  $("transfer-cancel").addEventListener("click", closeTransfer);
  $("transfer-panel").addEventListener("keydown", (event) => event.key === "Escape" && closeTransfer());
  $("error-dismiss").addEventListener("click", clearError);
  $("close").addEventListener("click", () => selectedConversation() && closeConversation(selectedConversation()));
  $("template").addEventListener("submit", sendTemplate);
  $("outbound-open").addEventListener("click", openOutbound);
  $("outbound").addEventListener("submit", startOutbound);
  $("outbound-cancel").addEventListener("click", closeOutbound);
  $("outbound").addEventListener("keydown", (event) => event.key === "Escape" && closeOutbound());
  wireNotes();
  wirePast();
  $("template-cancel").addEventListener("click", closeTemplate);
  $("template").addEventListener("keydown", (event) => event.key === "Escape" && closeTemplate());
  document.addEventListener("visibilitychange", () => {
    updateTitle();
    if (document.visibilityState === "visible") markRead(selectedConversation());
  });
  window.addEventListener("focus", () => markRead(selectedConversation()));
  // Back online: no need to wait for the backoff.
  window.addEventListener("online", () => state.link && state.link.connect());
  setInterval(tickWaits, 1000);
  wireSupervisor();
}

// A token handed over in the fragment replaces whoever was signed in; false when there is none.
function signInFromFragment() {
  const token = tokenFromFragment();
  if (!token) return false;
  const session = sessionFrom({ token });
  if (state.session) endSession("");
  if (alive(session)) start(session);
  else showSignIn("The access token in the link is not valid or has expired.");
  return true;
}

function boot() {
  wire();
  // The operator's sign-in may come back to a desk already open in this tab.
  window.addEventListener("hashchange", signInFromFragment);
  if (signInFromFragment()) return;
  const session = storedSession();
  if (session) return start(session);
  showSignIn();
}

boot();
