/* The agent socket on the shared resumable client, token renewal, and commands. */

import { CommandError, ResumableSocket, TokenRenewal } from "../shared/resumable-socket.js";
import { onEventFrame, onReady } from "./events.js";
import { errorText, setStatus, showError } from "./helpers.js";
import { alive, endSession, saveSession } from "./signin.js";
import { COMMAND_LABELS, EPHEMERAL, PROTOCOL, state } from "./state.js";

// This session's socket (docs/agent-socket.md): it resumes after the last event seen, and sends
// commands still unanswered when it dropped again (send_message with the same idempotency key,
// so the server stores the message once).
export function connect() {
  if (!state.link) {
    state.link = new ResumableSocket({
      url: (resume) => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/v1/agent/ws${resume}`,
      protocol: PROTOCOL,
      token: () => state.session.token,
      idPrefix: "d",
      resends: (name) => !EPHEMERAL.has(name),
      onConnectFailed: () => endSession("That access token cannot be used."),
      onReady,
      onEvent: onEventFrame,
      onStrayError: (frame) => showError(frame.message || "The server refused a frame."),
      onClosed: onSocketClosed,
    });
  }
  state.link.connect();
}

// What follows a dropped socket: "stop", "now" or nothing (back off; see ResumableSocket).
function onSocketClosed(event, token) {
  if (event.code === 4401 || event.code === 4403) {
    // A socket opened with a token since refreshed may expire: the fresh one carries on.
    const refreshed = state.session && state.session.token !== token && alive(state.session);
    if (!refreshed) {
      endSession(closeReason(event, !!(state.session && state.session.accepted)));
      return "stop";
    }
    setStatus("Reconnecting…", "reconnecting");
    return "now";
  }
  setStatus("Reconnecting…", "reconnecting");
  return undefined;
}

// `accepted`: the server took this session's token before (so this is a sign-out, not a refusal).
function closeReason(event, accepted) {
  const why = event.reason || (event.code === 4403 ? "the token grants no agent here" : "the token is not valid");
  if (event.code === 4403) return `This token does not open an agent desk (${why}).`;
  return accepted ? `You were signed out (${why}). Sign in again.` : `That access token was refused (${why}).`;
}

// A fresh token at 80% of the current one's life, handed to the open socket with `renew`.
export function renewTokens(session) {
  state.renewal = new TokenRenewal(session, {
    url: "/v1/Tokens/Refresh",
    refused: (status) => status === 401 || status === 403,
    onRefused: async (response) => endSession(`Your session ended (${await errorText(response)}). Sign in again.`),
    onRenewed: () => {
      saveSession();
      state.link.renew(session.token);
    },
  });
  state.renewal.schedule();
}

// ---- Commands -----------------------------------------------------------------------------------

// Sends a command and answers its result; while disconnected it waits for the next connection
// (but typing and renew, only useful on a live socket). A refusal is shown unless quiet.
export function command(name, fields = {}, options = {}) {
  if (!state.link) return Promise.reject(new CommandError(0, "signed out", { lost: true }));
  return state.link.command(name, fields).catch((err) => {
    // A command sent again after a reconnect may have worked the first time: its conflict is no news.
    if (!err.lost && !options.quiet && !(err.resent && err.code === 409)) {
      showError(`Could not ${COMMAND_LABELS[name] || name}: ${err.message} (${err.code})`);
    }
    throw err;
  });
}
