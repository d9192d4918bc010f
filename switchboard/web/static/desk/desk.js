/*
 * Switchboard agent desk (served at /desk/, same origin as the API).
 *
 * One WebSocket to /v1/agent/ws carries everything (docs/agent-socket.md): a `ready` snapshot,
 * then the agent's events in sequence order, and command/result/error frames. The desk keeps the
 * last sequence it saw and resumes from it after any drop, so a reconnect misses nothing; commands
 * still unanswered when the socket dropped are sent again (send_message with the same idempotency
 * key, so the server stores the message once).
 *
 * Security: whatever comes from the server or a customer (bodies, names, attributes, errors) is
 * put in the page as text (textContent, text nodes, attribute values), never parsed as HTML.
 */
(() => {
  "use strict";

  // ---- Settings ---------------------------------------------------------------------------------

  const PROTOCOL = "switchboard.agent.v1";
  const SESSION_KEY = "switchboard.desk.session";
  const DEV_OFF_KEY = "switchboard.desk.devSignInOff";
  const BASE_TITLE = "Switchboard · Agent desk";
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const REFRESH_AT = 0.8; // of a token's life
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_SHOWN_MS = 4000;
  const HISTORY_PAGE = 50;
  const IDENTITY = /^[A-Za-z0-9_.@-]{1,64}$/;
  // Only useful on a live socket: never queued for the next connection.
  const EPHEMERAL = new Set(["typing", "renew"]);
  const FINISHED = new Set(["completed", "canceled"]);
  // A task only moves forward: an older report never undoes a newer one.
  const TASK_RANK = { pending: 0, reserved: 1, assigned: 2, wrapping: 3, completed: 4, canceled: 4 };
  // SMS, WhatsApp and Messenger report how far a message got (message.status); web chats report reads.
  const DELIVERY_LABELS = { queued: "Queued", sending: "Sending", sent: "Sent", delivered: "Delivered", read: "Read" };
  const DELIVERY_RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5, undelivered: 5 };
  const COMMAND_LABELS = {
    accept: "accept the request", reject: "reject the request", wrapup: "wrap up", complete: "complete the task",
    send_message: "send the message", set_activity: "change your activity", transfer: "transfer the conversation",
    history: "load the messages", directory: "load the directory", channel_info: "load the conversation",
  };

  const $ = (id) => document.getElementById(id);

  const state = {
    session: null, // {token, expires_at, ttl, identity, worker_sid}
    socket: null,
    ready: false, // the current socket has said `ready`: commands may go
    last: null, // the last event sequence seen
    backoff: BACKOFF_MIN_MS,
    reconnectTimer: 0,
    refreshTimer: 0,
    nextId: 0,
    picks: 0, // conversations the agent opened: an accept answered later must not take over
    waiting: new Map(), // command id -> {frame, resolve, reject, quiet, sent, resent}
    worker: { sid: null, activity_sid: null, available: false },
    directory: { queues: [], workers: [], activities: [], flexFlows: [] },
    startedTasks: new Set(), // tasks of conversations this agent started: accepted on arrival
    reservations: new Map(), // reservation sid -> {data, node, wait, buttons, receivedAt}
    conversations: new Map(), // channel sid -> conversation (see newConversation)
    selected: null, // the channel sid shown in the main area
    nodes: new Map(), // message index -> node, for the selected conversation only
    atEnd: true, // the log follows the newest message; false once the agent scrolls up to read
    autoScrollTop: null, // where the desk last scrolled the log to on its own
    typingSentAt: 0,
    typingTimer: 0,
    flashTimer: 0,
  };

  class CommandError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  // ---- Small helpers ----------------------------------------------------------------------------

  // Builds an element; "text" becomes textContent (never HTML), "on" adds listeners.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
    return node;
  }

  const me = () => (state.session ? state.session.identity : "");

  function formatWait(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  // As the browser writes times (12- or 24-hour), as the widget does for the customer: each person
  // reads their own clock.
  function formatTime(iso) {
    const date = iso ? new Date(iso) : new Date();
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function formatSize(bytes) {
    if (!Number.isFinite(bytes)) return "";
    if (bytes < 1024) return `${bytes} B`;
    return bytes < 1024 * 1024 ? `${Math.round(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  // crypto.randomUUID exists only in secure contexts; getRandomValues everywhere.
  function newKey() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // An HTTP error's message: Twilio's shape ({message}) or FastAPI's validation shape ({detail}).
  async function errorText(response) {
    const body = await response.json().catch(() => ({}));
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    return body.message || detail || `${response.status} ${response.statusText}`.trim();
  }

  function showError(message) {
    $("error-text").textContent = message;
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  // Screen readers hear the text even when it repeats (the region is emptied first).
  function announce(message) {
    $("announcer").textContent = "";
    setTimeout(() => ($("announcer").textContent = message), 50);
  }

  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").dataset.state = kind;
  }

  // sessionStorage may be unavailable (privacy modes): the desk then lasts as long as the page.
  function stored(key, value) {
    try {
      if (value === undefined) return sessionStorage.getItem(key);
      if (value === null) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch (err) {
      /* not kept */
    }
    return null;
  }

  // ---- Session: sign-in, storage, token refresh -------------------------------------------------

  function decodeClaims(token) {
    const part = String(token).split(".")[1];
    if (!part) return null;
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
  }

  // A session from a sign-in answer or a bare token (its claims give expiry and identity; the
  // signature is the server's business).
  function sessionFrom(answer) {
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

  const alive = (session) => !!session && Date.parse(session.expires_at) > Date.now() + 5000;
  const saveSession = () => stored(SESSION_KEY, JSON.stringify(state.session));

  function storedSession() {
    try {
      const session = JSON.parse(stored(SESSION_KEY) || "null");
      return session && session.token && alive(session) ? session : null;
    } catch (err) {
      return null;
    }
  }

  // The operator's sign-in may hand a token over in the fragment; it leaves the address bar (and
  // this history entry) at once.
  function tokenFromFragment() {
    if (!location.hash) return null;
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (token) history.replaceState(history.state, "", location.pathname + location.search);
    return token;
  }

  function showSignIn(reason) {
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

  function onSignInSubmit(event) {
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

  function start(session) {
    state.session = session;
    saveSession();
    $("token").value = "";
    $("signin-screen").hidden = true;
    $("desk").hidden = false;
    $("me").textContent = session.identity;
    setStatus("Connecting…", "connecting");
    renderPlaceholders();
    scheduleRefresh();
    connect();
  }

  // Everything about this agent is forgotten: socket, timers, lists, the stored token.
  function endSession(reason) {
    const socket = state.socket;
    state.socket = null;
    state.ready = false;
    if (socket) socket.close(1000, "signed out");
    clearTimeout(state.reconnectTimer);
    clearTimeout(state.refreshTimer);
    clearTimeout(state.typingTimer);
    clearInterval(state.flashTimer);
    for (const entry of state.waiting.values()) entry.reject(new CommandError(0, "signed out"));
    Object.assign(state, {
      session: null, last: null, backoff: BACKOFF_MIN_MS, waiting: new Map(), selected: null, nodes: new Map(),
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

  // A fresh token at 80% of the current one's life, handed to the open socket with `renew`.
  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    const session = state.session;
    if (!session) return;
    const left = Date.parse(session.expires_at) - Date.now();
    const delay = Math.max(1000, left - (session.ttl || 3600) * 1000 * (1 - REFRESH_AT));
    state.refreshTimer = setTimeout(refreshToken, Math.min(delay, 2 ** 31 - 1));
  }

  async function refreshToken() {
    const session = state.session;
    if (!session) return;
    try {
      const response = await fetch("/v1/Tokens/Refresh", {
        method: "POST",
        headers: { Authorization: `Bearer ${session.token}` },
      });
      if (state.session !== session) return;
      if (response.status === 401 || response.status === 403) {
        return endSession(`Your session ended (${await errorText(response)}). Sign in again.`);
      }
      if (!response.ok) throw new Error(await errorText(response));
      const fresh = await response.json();
      Object.assign(session, { token: fresh.token, expires_at: fresh.expires_at, ttl: fresh.ttl || session.ttl });
      saveSession();
      if (state.ready) command("renew", { token: fresh.token }, { quiet: true }).catch(() => {});
      scheduleRefresh();
    } catch (err) {
      // A passing network problem: try again soon, while the token is still good.
      if (state.session === session) state.refreshTimer = setTimeout(refreshToken, 15000);
    }
  }

  // ---- The socket ---------------------------------------------------------------------------------

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const resume = state.last !== null ? `?resume_after=${encodeURIComponent(state.last)}` : "";
    return `${scheme}//${location.host}/v1/agent/ws${resume}`;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (!state.session || state.socket) return;
    const token = state.session.token;
    let socket;
    try {
      // The token rides in the subprotocol list, never in the URL (URLs end up in logs).
      socket = new WebSocket(socketUrl(), [PROTOCOL, `access_token.${token}`]);
    } catch (err) {
      return endSession("That access token cannot be used.");
    }
    state.socket = socket;
    state.ready = false;
    socket.addEventListener("message", (event) => state.socket === socket && onFrame(event.data));
    socket.addEventListener("close", (event) => state.socket === socket && onSocketClosed(event, token));
  }

  function onSocketClosed(event, token) {
    state.socket = null;
    state.ready = false;
    for (const [id, entry] of state.waiting) {
      if (!EPHEMERAL.has(entry.frame.command)) continue;
      state.waiting.delete(id);
      entry.reject(new CommandError(0, "the connection dropped"));
    }
    let delay;
    if (event.code === 4401 || event.code === 4403) {
      // A socket opened with a token since refreshed may expire: the fresh one carries on.
      const refreshed = state.session && state.session.token !== token && alive(state.session);
      if (!refreshed) return endSession(closeReason(event, !!(state.session && state.session.accepted)));
      delay = 0;
    }
    setStatus("Reconnecting…", "reconnecting");
    scheduleReconnect(delay);
  }

  // `accepted`: the server took this session's token before (so this is a sign-out, not a refusal).
  function closeReason(event, accepted) {
    const why = event.reason || (event.code === 4403 ? "the token grants no agent here" : "the token is not valid");
    if (event.code === 4403) return `This token does not open an agent desk (${why}).`;
    return accepted ? `You were signed out (${why}). Sign in again.` : `That access token was refused (${why}).`;
  }

  // Exponential backoff with jitter, 0.5 to 10 seconds, so a restarted server is not stampeded.
  function scheduleReconnect(delay) {
    clearTimeout(state.reconnectTimer);
    const wait = delay !== undefined ? delay
      : Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, state.backoff * (0.6 + Math.random() * 0.8)));
    state.backoff = Math.min(BACKOFF_MAX_MS, state.backoff * 2);
    state.reconnectTimer = setTimeout(connect, wait);
  }

  function onFrame(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch (err) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "ready") onReady(frame);
    else if (frame.type === "event") onEventFrame(frame);
    else if (frame.type === "result" || frame.type === "error") settle(frame);
  }

  // ---- Commands -----------------------------------------------------------------------------------

  // Sends a command and answers its result; while disconnected it waits for the next connection.
  function command(name, fields = {}, options = {}) {
    const frame = { type: "command", id: `d${++state.nextId}`, command: name, ...fields };
    return new Promise((resolve, reject) => {
      if (!state.ready && EPHEMERAL.has(name)) return reject(new CommandError(0, "not connected"));
      const entry = { frame, resolve, reject, quiet: !!options.quiet, sent: false, resent: false };
      state.waiting.set(frame.id, entry);
      if (state.ready) transmit(entry);
    });
  }

  function transmit(entry) {
    entry.resent = entry.sent;
    entry.sent = true;
    try {
      state.socket.send(JSON.stringify(entry.frame));
    } catch (err) {
      /* the socket is going: it is sent again after the reconnect */
    }
  }

  function settle(frame) {
    const entry = state.waiting.get(frame.id);
    if (!entry) {
      if (frame.type === "error") showError(frame.message || "The server refused a frame.");
      return;
    }
    state.waiting.delete(frame.id);
    if (frame.type === "result") return entry.resolve(frame.data || {});
    // A command sent again after a reconnect may have worked the first time: its conflict is no news.
    if (!entry.quiet && !(entry.resent && frame.code === 409)) {
      const label = COMMAND_LABELS[entry.frame.command] || entry.frame.command;
      showError(`Could not ${label}: ${frame.message || "refused"} (${frame.code})`);
    }
    entry.reject(new CommandError(frame.code, frame.message));
  }

  // ---- The ready snapshot and the event stream ----------------------------------------------------

  function onReady(frame) {
    state.ready = true;
    state.backoff = BACKOFF_MIN_MS;
    if (typeof frame.sequence === "number") state.last = frame.sequence;
    setStatus("Connected", "connected");
    if (state.session) state.session.accepted = true;
    const worker = frame.worker || {};
    state.worker.sid = worker.sid || state.worker.sid;
    if (worker.identity && state.session) {
      state.session.identity = worker.identity;
      $("me").textContent = worker.identity;
      saveSession();
    }
    showActivity(worker.activity_sid, worker.activity_name, worker.available);
    // Commands unanswered on the previous socket go again, in their order.
    for (const entry of state.waiting.values()) transmit(entry);
    loadDirectory();
    for (const item of frame.reservations || []) {
      const data = normalizeReservation(item);
      if (item.status === "pending") addReservation(data);
      else if (data.channel_sid) {
        const status = item.status === "wrapping" ? "wrapping" : "assigned";
        adoptTask(conversationFor(data.channel_sid), taskFromReservation(data, status), data);
      }
    }
    for (const channelSid of frame.channels || []) conversationFor(channelSid);
    // Details may have changed while the socket was away.
    for (const conv of state.conversations.values()) if (!conv.infoBusy) requestInfo(conv);
  }

  function onEventFrame(frame) {
    if (typeof frame.sequence === "number") {
      if (state.last !== null && frame.sequence <= state.last) return; // seen already
      state.last = frame.sequence;
    }
    const handler = EVENTS[frame.event];
    const data = frame.data || {};
    if (handler) handler(data, data.channel_sid || frame.channel_sid, frame);
  }

  // Events about a conversation the desk does not know are about nothing it shows.
  const known = (fn) => (data, channelSid, frame) => {
    const conv = state.conversations.get(channelSid);
    if (conv) fn(conv, data, frame);
  };

  const EVENTS = {
    "reservation.created": (data) => addReservation(normalizeReservation(data), true),
    "reservation.accepted": (data, channelSid) => {
      removeReservation(data.reservation_sid);
      if (!channelSid) return;
      const reservation = normalizeReservation(data);
      adoptTask(conversationFor(channelSid), taskFromReservation(reservation, "assigned"), reservation);
    },
    "reservation.rejected": (data) => removeReservation(data.reservation_sid),
    "reservation.timeout": (data) => removeReservation(data.reservation_sid),
    "reservation.rescinded": (data) => removeReservation(data.reservation_sid),
    "reservation.canceled": (data) => removeReservation(data.reservation_sid),
    "task.wrapup": (data, channelSid) => onTaskEvent(data, channelSid, "wrapping"),
    "task.completed": (data, channelSid) => onTaskEvent(data, channelSid, "completed"),
    "task.canceled": (data, channelSid) => onTaskEvent(data, channelSid, "canceled"),
    "worker.activity.update": (data) => showActivity(data.worker_activity_sid, null, data.worker_available),
    "channel.joined": (data, channelSid) => channelSid && requestInfo(conversationFor(channelSid)),
    "member.joined": known((conv, data) => {
      if (data.identity === me()) return;
      addNotice(conv, `${data.identity || "Someone"} joined the conversation.`);
      requestInfo(conv);
    }),
    "channel.status": known((conv, data) => {
      const closed = data.status === "INACTIVE";
      if (closed && !conv.closed) addNotice(conv, "Channel closed.");
      conv.closed = closed;
      requestInfo(conv);
    }),
    "chat.ended": known((conv, data) => onChatEnded(conv, data.by)),
    // A conversation comes with its task (reservation events, `ready`), never with a message: a
    // customer writing again on a channel the agent finished with is a new offer, not her chat.
    message: known((conv, data, frame) => onMessageEvent(conv, data, frame.date)),
    "message.status": known(onDeliveryStatus),
    typing: known(onTypingEvent),
    read: known(onReadEvent),
  };

  // ---- Activity and directory ---------------------------------------------------------------------

  async function loadDirectory() {
    try {
      const data = await command("directory", {}, { quiet: true });
      state.directory = {
        queues: data.queues || [], workers: data.workers || [], activities: data.activities || [], flexFlows: data.flex_flows || [],
      };
      renderActivities();
    } catch (err) {
      /* the menu keeps the current activity; the transfer panel says when it has no one */
    }
  }

  function renderActivities() {
    const activities = state.directory.activities;
    if (!activities.length) return;
    $("activity").replaceChildren(...activities.map((a) => el("option", { value: a.sid, text: a.friendly_name })));
    showActivity(state.worker.activity_sid);
  }

  // Shows the worker's activity (with an option of its own until the directory has come).
  function showActivity(sid, name, available) {
    if (sid) state.worker.activity_sid = sid;
    if (typeof available === "boolean") state.worker.available = available;
    const select = $("activity");
    const current = state.worker.activity_sid;
    if (current && ![...select.options].some((o) => o.value === current)) {
      select.append(el("option", { value: current, text: name || "Current activity" }));
    }
    if (current) select.value = current;
    $("availability").dataset.available = String(state.worker.available);
  }

  async function onActivityChange() {
    const before = state.worker.activity_sid;
    try {
      const result = await command("set_activity", { activity: $("activity").value });
      showActivity(result.activity_sid, result.activity_name, result.available);
    } catch (err) {
      showActivity(before);
    }
  }

  // ---- Reservations (incoming requests) -----------------------------------------------------------

  // `ready` items and reservation events name their fields slightly differently.
  function normalizeReservation(r) {
    const attributes = r.task_attributes && typeof r.task_attributes === "object" ? r.task_attributes : {};
    const pre = r.pre_engagement_data && typeof r.pre_engagement_data === "object" ? r.pre_engagement_data : {};
    return {
      reservation_sid: r.reservation_sid || r.sid,
      task_sid: r.task_sid,
      channel_sid: r.channel_sid || attributes.channelSid || null,
      task_attributes: attributes,
      pre_engagement_data: pre,
      task_age: Number(r.task_age) || 0,
      task_channel_unique_name: r.task_channel_unique_name || "",
      queue_sid: r.queue_sid || null,
    };
  }

  function taskFromReservation(r, status) {
    return { sid: r.task_sid, reservation_sid: r.reservation_sid, assignment_status: status, attributes: r.task_attributes, queue_sid: r.queue_sid };
  }

  function addReservation(r, live) {
    if (!r.reservation_sid || state.reservations.has(r.reservation_sid)) return;
    // A conversation this agent started: its task is the agent's, taken at once.
    const started = r.task_sid && state.startedTasks.has(r.task_sid);
    const attrs = r.task_attributes;
    const name = String(attrs.name || attrs.from || "Customer");
    const channel = String(attrs.channelType || r.task_channel_unique_name || "chat");
    const question = r.pre_engagement_data.question || attrs.question;
    const entry = { data: r, receivedAt: Date.now() };
    entry.wait = el("span", { class: "wait", "data-testid": "reservation-wait", text: formatWait(r.task_age) });
    entry.buttons = [
      el("button", {
        type: "button", "data-testid": "reservation-accept", text: "Accept", "aria-label": `Accept ${name} (${channel})`,
        on: { click: () => answerReservation(r.reservation_sid, "accept") },
      }),
      el("button", {
        type: "button", class: "secondary", "data-testid": "reservation-reject", text: "Reject", "aria-label": `Reject ${name} (${channel})`,
        on: { click: () => answerReservation(r.reservation_sid, "reject") },
      }),
    ];
    entry.node = el("li", { class: "reservation", "data-testid": "desk-reservation", "data-reservation-sid": r.reservation_sid },
      el("div", { class: "res-line" },
        el("span", { class: "res-name", "data-testid": "reservation-name", text: name }),
        el("span", { class: "pill", "data-testid": "reservation-channel", text: channel })),
      attrs.from && String(attrs.from) !== name ? el("div", { class: "res-from", text: String(attrs.from) }) : null,
      el("div", { class: "res-wait" }, "Waiting ", entry.wait),
      question ? el("p", { class: "res-question", text: `“${question}”` }) : null,
      el("div", { class: "res-buttons" }, ...entry.buttons));
    state.reservations.set(r.reservation_sid, entry);
    $("reservations").append(entry.node);
    renderPlaceholders();
    updateTitle();
    if (live) announce(`New ${channel} request from ${name}.`);
    if (started) acceptStarted(r);
  }

  // ---- Starting a conversation (SMS, WhatsApp, Messenger) -------------------------------------------

  function openOutbound() {
    const flows = state.directory.flexFlows || [];
    $("outbound-flow").replaceChildren(...flows.map((f) =>
      el("option", { value: f.sid, text: `${f.channel_type} · ${f.friendly_name}${f.contact_identity ? ` (${f.contact_identity})` : ""}` })));
    if (!flows.length) return showError("No SMS, WhatsApp or Messenger Flex Flow to start a conversation on.");
    $("outbound").hidden = false;
    $("outbound-to").focus();
  }

  function closeOutbound() {
    $("outbound").hidden = true;
    showOutboundError("");
    $("outbound-open").focus();
  }

  // The form's own refusal line: the agent reads why nothing was sent where it is looking.
  function showOutboundError(text) {
    $("outbound-error").textContent = text;
    $("outbound-error").hidden = !text;
  }

  // One key per conversation being started: the same start sent again (a retry after a refusal or
  // a lost answer, a double click) is taken once by the server, so the customer gets one text.
  const outbound = { key: null, fields: null, busy: false };

  async function startOutbound(event) {
    event.preventDefault();
    if (outbound.busy) return;
    const form = $("outbound");
    const fields = {
      flex_flow_sid: $("outbound-flow").value,
      to: $("outbound-to").value.trim(),
      body: $("outbound-body").value.trim(),
    };
    const name = $("outbound-name").value.trim();
    if (name) fields.customer_name = name;
    if (!fields.to || !fields.body) return;
    const same = JSON.stringify(fields);
    if (outbound.fields !== same) Object.assign(outbound, { key: newKey(), fields: same });
    showOutboundError("");
    outbound.busy = true;
    $("outbound").querySelector("[type=submit]").disabled = true;
    let started;
    try {
      started = await command("start_conversation", { ...fields, key: outbound.key }, { quiet: true });
    } catch (err) {
      showOutboundError(`Not started: ${err.message || "refused"}`);
      return;
    } finally {
      outbound.busy = false;
      $("outbound").querySelector("[type=submit]").disabled = false;
    }
    Object.assign(outbound, { key: null, fields: null });
    form.reset();
    form.hidden = true;
    if (started.task_sid) {
      state.startedTasks.add(started.task_sid);
      // The offer may have come before the answer.
      for (const entry of state.reservations.values()) {
        if (entry.data.task_sid === started.task_sid) acceptStarted(entry.data);
      }
    } else announce("Sent. The conversation starts when the customer answers.");
  }

  function acceptStarted(r) {
    state.startedTasks.delete(r.task_sid);
    answerReservation(r.reservation_sid, "accept");
  }

  function removeReservation(sid) {
    const entry = state.reservations.get(sid);
    if (!entry) return;
    const hadFocus = entry.node.contains(document.activeElement);
    entry.node.remove();
    state.reservations.delete(sid);
    renderPlaceholders();
    updateTitle();
    // The focus goes to the next request, else to the conversation list, never to nowhere.
    const next = hadFocus && ($("reservations").querySelector("[data-testid=reservation-accept]") ||
      $("conversations").querySelector("[data-testid=desk-conversation]"));
    if (next) next.focus();
  }

  async function answerReservation(sid, name) {
    const entry = state.reservations.get(sid);
    if (!entry) return;
    for (const button of entry.buttons) button.disabled = true;
    // The accepted conversation opens unless the agent picked another one meanwhile.
    const picks = state.picks;
    try {
      await command(name, { reservation_sid: sid });
    } catch (err) {
      for (const button of entry.buttons) button.disabled = false;
      return;
    }
    removeReservation(sid);
    if (name === "accept" && entry.data.channel_sid) {
      const conv = conversationFor(entry.data.channel_sid);
      adoptTask(conv, taskFromReservation(entry.data, "assigned"), entry.data);
      if (state.picks === picks) selectConversation(conv.sid, true);
    }
  }

  function tickWaits() {
    const now = Date.now();
    for (const entry of state.reservations.values()) {
      entry.wait.textContent = formatWait(entry.data.task_age + (now - entry.receivedAt) / 1000);
    }
  }

  // The tab's title counts the requests, and flashes while the tab is in the background.
  function updateTitle() {
    clearInterval(state.flashTimer);
    const count = state.reservations.size;
    const counted = count ? `(${count}) ${BASE_TITLE}` : BASE_TITLE;
    document.title = counted;
    if (!count || document.visibilityState === "visible") return;
    let on = false;
    state.flashTimer = setInterval(() => {
      on = !on;
      document.title = on ? `New request · ${BASE_TITLE}` : counted;
    }, 1200);
  }

  function renderPlaceholders() {
    $("no-reservations").hidden = state.reservations.size > 0;
    $("no-conversations").hidden = state.conversations.size > 0;
  }

  // ---- Conversations -------------------------------------------------------------------------------

  function newConversation(sid) {
    return {
      sid,
      info: null, // the last channel_info answer
      task: null, // {sid, reservation_sid, assignment_status, attributes, queue_sid}
      preEngagement: null, // from the reservation, until channel_info tells
      messages: new Map(), // index -> message data (+ date)
      pending: new Map(), // idempotency key -> message being sent
      notices: [], // {text, order}: the desk's own lines, between messages
      delivery: new Map(), // index -> the provider's last report (message.status data)
      unread: 0,
      customerRead: -1, // the customer's read horizon
      readSent: -1, // the horizon this desk last reported
      hasMore: false,
      loadingEarlier: false,
      typing: null, // {identity, who, until}
      ended: false, // the customer ended the chat
      closed: false, // the channel is INACTIVE
      preview: "",
      draft: "", // what the agent had typed when switching away
      lastIndex: -1,
      renderedCustomer: undefined, // the customer identity the log was drawn with
      infoBusy: false,
      infoAgain: false,
      item: null,
    };
  }

  // The conversation for a channel, created (with its list entry) on first mention.
  function conversationFor(sid) {
    let conv = state.conversations.get(sid);
    if (conv) return conv;
    conv = newConversation(sid);
    state.conversations.set(sid, conv);
    buildItem(conv);
    renderItem(conv);
    renderPlaceholders();
    requestInfo(conv);
    return conv;
  }

  // A conversation leaves the desk once its task is finished and the agent is done with it.
  function closeConversation(conv) {
    if (state.conversations.get(conv.sid) !== conv) return;
    state.conversations.delete(conv.sid);
    conv.item.button.closest("li").remove();
    if (state.selected === conv.sid) {
      state.selected = null;
      state.nodes = new Map();
      closeTransfer();
      closeTemplate();
      $("messages").replaceChildren();
      $("chat").hidden = true;
      $("empty").hidden = false;
      const next = $("conversations").querySelector("button");
      if (next) next.focus();
    }
    renderPlaceholders();
  }

  const selectedConversation = () => state.conversations.get(state.selected) || null;
  const isSelected = (conv) => !!conv && state.selected === conv.sid;
  const taskStatus = (conv) => (conv.task ? conv.task.assignment_status : null);
  const laterStatus = (a, b) => ((TASK_RANK[a] ?? -1) > (TASK_RANK[b] ?? -1) ? a : b);

  function adoptTask(conv, task, reservation) {
    if (conv.task && conv.task.sid === task.sid) {
      conv.task = { ...conv.task, ...task, assignment_status: laterStatus(conv.task.assignment_status, task.assignment_status) };
    } else {
      conv.task = task; // a new interaction on this channel
      conv.ended = false;
    }
    if (reservation && Object.keys(reservation.pre_engagement_data).length) conv.preEngagement = reservation.pre_engagement_data;
    refreshConversation(conv);
    requestInfo(conv);
  }

  function onTaskEvent(data, channelSid, status) {
    for (const [sid, entry] of state.reservations) if (entry.data.task_sid === data.task_sid) removeReservation(sid);
    const conv = state.conversations.get(channelSid);
    if (!conv) return;
    if (!conv.task || conv.task.sid === data.task_sid) {
      const task = conv.task || { sid: data.task_sid, reservation_sid: data.reservation_sid };
      conv.task = { ...task, assignment_status: laterStatus(task.assignment_status, data.task_assignment_status || status) };
      refreshConversation(conv);
    }
    requestInfo(conv);
  }

  // channel_info, one request at a time per conversation (one asked for meanwhile runs after).
  async function requestInfo(conv) {
    if (conv.infoBusy) {
      conv.infoAgain = true;
      return;
    }
    conv.infoBusy = true;
    try {
      do {
        conv.infoAgain = false;
        applyInfo(conv, await command("channel_info", { channel_sid: conv.sid }, { quiet: true }));
      } while (conv.infoAgain);
    } catch (err) {
      /* no longer this agent's channel, or signed out: keep what is known */
    } finally {
      conv.infoBusy = false;
    }
  }

  function applyInfo(conv, info) {
    if (state.conversations.get(conv.sid) !== conv || !info) return;
    conv.info = info;
    if (info.task) conv.task = { ...info.task };
    if (info.task && info.task.ended_by && !conv.ended) {
      // The chat ended before this desk loaded (a reload): say so as the live event does.
      conv.ended = true;
      addNotice(conv, endedText(info.task.ended_by));
    }
    const customer = customerIdentity(conv);
    const member = (info.members || []).find((m) => m.identity === customer);
    if (member && typeof member.last_consumed_message_index === "number") {
      conv.customerRead = Math.max(conv.customerRead, member.last_consumed_message_index);
    }
    if (info.status === "INACTIVE" && !conv.closed) {
      conv.closed = true;
      addNotice(conv, "Channel closed.");
    }
    refreshConversation(conv);
    // Roles (customer or other) depend on who the customer is: redraw if that just became known.
    if (isSelected(conv) && conv.renderedCustomer !== customer) rebuildLog(conv);
    else renderReceipts(conv);
  }

  function customerIdentity(conv) {
    const info = conv.info;
    if (!info) return null;
    if (info.customer && info.customer.identity) return info.customer.identity;
    // Without a contact, the first member who is not an agent is the customer.
    const agents = new Set(state.directory.workers.map((w) => w.identity).concat(me()));
    const member = (info.members || []).find((m) => !agents.has(m.identity));
    return member ? member.identity : null;
  }

  function customerName(conv) {
    const attrs = (conv.task && conv.task.attributes) || {};
    const info = conv.info || {};
    const customer = info.customer || {};
    return String(attrs.name || customer.name || info.friendly_name || attrs.from || customer.identity || "Customer");
  }

  // The customer's address (a phone number, a WhatsApp address) when it is not already the name.
  function customerAddress(conv) {
    const attrs = (conv.task && conv.task.attributes) || {};
    const customer = (conv.info && conv.info.customer) || {};
    const address = channelType(conv) === "web" ? "" : String(customer.identity || attrs.from || "");
    return address && address !== customerName(conv) ? address : "";
  }

  function channelType(conv) {
    const attrs = (conv.task && conv.task.attributes) || {};
    return String((conv.info && conv.info.channel_type) || attrs.channelType || "");
  }

  function preEngagement(conv) {
    let pre = conv.info && conv.info.attributes ? conv.info.attributes.pre_engagement_data : null;
    if (typeof pre === "string") {
      try {
        pre = JSON.parse(pre);
      } catch (err) {
        pre = null;
      }
    }
    return pre && typeof pre === "object" ? pre : conv.preEngagement || {};
  }

  function displayName(conv, identity) {
    if (identity === me()) return "You";
    if (identity && identity === customerIdentity(conv)) return customerName(conv);
    const worker = state.directory.workers.find((w) => w.identity === identity);
    return String((worker && worker.friendly_name) || identity || "Someone");
  }

  function refreshConversation(conv) {
    renderItem(conv);
    if (isSelected(conv)) renderChatHeader(conv);
  }

  function buildItem(conv) {
    const refs = {
      name: el("span", { class: "conv-name" }),
      channel: el("span", { class: "pill" }),
      unread: el("span", { class: "badge", "data-testid": "conversation-unread", hidden: true }),
      unreadLabel: el("span", { class: "sr-only", text: " unread", hidden: true }),
      address: el("span", { class: "conv-address" }),
      preview: el("span", { class: "conv-preview" }),
      state: el("span", { class: "conv-state" }),
    };
    refs.button = el("button", {
      type: "button", class: "conv", "data-testid": "desk-conversation", "data-channel-sid": conv.sid,
      on: { click: () => selectConversation(conv.sid, true) },
    },
    el("span", { class: "conv-line" }, refs.name, refs.channel, refs.unread, refs.unreadLabel),
    refs.address, refs.preview, refs.state);
    conv.item = refs;
    $("conversations").append(el("li", {}, refs.button));
  }

  function renderItem(conv) {
    const refs = conv.item;
    const status = taskStatus(conv);
    const address = customerAddress(conv);
    refs.name.textContent = customerName(conv);
    refs.channel.textContent = channelType(conv);
    refs.channel.hidden = !channelType(conv);
    refs.address.textContent = address;
    refs.address.hidden = !address;
    refs.preview.textContent = conv.preview;
    refs.preview.hidden = !conv.preview;
    refs.unread.textContent = String(conv.unread);
    refs.unread.hidden = refs.unreadLabel.hidden = conv.unread === 0;
    refs.state.textContent = status || "";
    refs.state.dataset.state = status || "";
    refs.button.classList.toggle("finished", FINISHED.has(status));
    refs.button.classList.toggle("ended", conv.ended && !FINISHED.has(status));
    refs.button.setAttribute("aria-current", isSelected(conv) ? "true" : "false");
  }

  function selectConversation(sid, byUser) {
    const conv = state.conversations.get(sid);
    if (!conv) return;
    if (byUser) state.picks += 1;
    if (state.selected !== sid) {
      const previous = selectedConversation();
      if (previous) previous.draft = $("input").value;
      state.selected = sid;
      if (previous) renderItem(previous);
      closeTransfer();
      closeTemplate();
      clearError();
      $("input").value = conv.draft;
      $("empty").hidden = true;
      $("chat").hidden = false;
      conv.unread = 0;
      renderItem(conv);
      renderChatHeader(conv);
      renderTyping(conv);
      rebuildLog(conv);
      // An agent opening a conversation sees its latest page, earlier interactions included.
      loadHistory(conv);
    }
    if (byUser && !$("input").disabled) $("input").focus();
  }

  function renderChatHeader(conv) {
    const status = taskStatus(conv);
    const address = customerAddress(conv);
    $("chat-title").textContent = customerName(conv);
    $("chat-channel").textContent = channelType(conv) || "chat";
    $("chat-address").textContent = address;
    $("chat-address").hidden = !address;
    $("chat-state").textContent = status ? `Task ${status}` : "No task";
    $("chat-state").dataset.state = status || "";
    const details = Object.entries(preEngagement(conv)).filter(([, value]) => value !== null && value !== "");
    $("chat-details").replaceChildren(...details.flatMap(([key, value]) => [
      el("dt", { text: labelFor(key) }),
      el("dd", { text: typeof value === "object" ? JSON.stringify(value) : String(value) }),
    ]));
    $("chat-details").hidden = details.length === 0;
    renderActions(conv);
  }

  function labelFor(key) {
    const words = String(key).replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim().toLowerCase();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function renderActions(conv) {
    const status = taskStatus(conv);
    const mine = !!(conv.task && conv.task.reservation_sid);
    $("transfer").disabled = !(mine && status === "assigned");
    $("wrapup").disabled = !(mine && status === "assigned");
    $("complete").disabled = !(mine && status === "wrapping");
    // Once the customer has gone, the next step is what the agent should see.
    $("wrapup").classList.toggle("attention", conv.ended && status === "assigned");
    $("complete").classList.toggle("attention", conv.ended && status === "wrapping");
    if ($("transfer").disabled) closeTransfer();
    const finished = FINISHED.has(status);
    // Finished by someone else (a supervisor, a timeout): the agent reads why, then closes it.
    $("close").hidden = !finished;
    // A transferred conversation is the next agent's to answer; this one only completes its part.
    const handedOver = !finished && !!(conv.task && conv.task.handed_over);
    // The customer left the web chat: nobody would read a reply, and it would begin nothing.
    const left = !finished && conv.ended;
    for (const id of ["input", "send", "attach"]) $(id).disabled = finished || handedOver || left;
    $("input").placeholder = finished ? `This conversation's task is ${status}.`
      : handedOver ? "You transferred this conversation. Complete your part when you are done."
      : left ? "The customer left the chat and will not see new messages. Wrap up and complete the task."
      : "Write a reply. Enter sends, Shift+Enter starts a new line.";
  }

  function endedText(by) {
    return by === "customer" || !by ? "The customer ended the chat."
      : by === "agent" ? "An agent ended the chat." : "The chat was ended by the system.";
  }

  function onChatEnded(conv, by) {
    conv.ended = true;
    const text = endedText(by);
    addNotice(conv, text);
    if (!isSelected(conv)) announce(`${customerName(conv)}: ${text}`);
    refreshConversation(conv);
    requestInfo(conv);
  }

  // ---- The message log ----------------------------------------------------------------------------

  // The log stays in order: the earlier-button, messages by index, notices after the message they
  // followed, messages being sent last.
  const orderOf = new WeakMap();

  function placeNode(node, order, replacing) {
    const box = $("messages");
    orderOf.set(node, order);
    growth.observe(node);
    if (replacing && replacing.parentNode === box) return box.replaceChild(node, replacing);
    let before = null;
    for (let child = box.lastElementChild; child; child = child.previousElementSibling) {
      if ((orderOf.get(child) ?? 0) <= order) break;
      before = child;
    }
    box.insertBefore(node, before);
  }

  function rebuildLog(conv) {
    const box = $("messages");
    box.setAttribute("aria-busy", "true");
    box.replaceChildren();
    growth.disconnect();
    growth.observe(box);
    state.nodes = new Map();
    conv.renderedCustomer = customerIdentity(conv);
    renderEarlierButton(conv);
    for (const index of [...conv.messages.keys()].sort((a, b) => a - b)) placeMessage(conv, conv.messages.get(index));
    for (const notice of conv.notices) placeNode(noticeNode(notice.text), notice.order);
    for (const pending of conv.pending.values()) showPending(conv, pending);
    box.setAttribute("aria-busy", "false");
    scrollToEnd();
  }

  // Whether the agent follows the newest message (she was at the end when she last scrolled).
  const nearEnd = () => state.atEnd;

  // A followed log turns the browser's scroll anchoring off (desk.css): it would move the view
  // with whatever grows above it, off the end; a reader's view keeps it, and stays put.
  function follow(atEnd) {
    state.atEnd = atEnd;
    $("messages").classList.toggle("following", atEnd);
  }

  function scrollToEnd() {
    const box = $("messages");
    follow(true);
    box.scrollTop = box.scrollHeight;
    state.autoScrollTop = box.scrollTop;
  }

  // A scroll the desk made itself (the view has not moved since, however the log grew) leaves the
  // log followed; any other scroll decides by where it ends: at the end, or reading further up.
  function onLogScroll() {
    const box = $("messages");
    if (box.scrollTop === state.autoScrollTop) return;
    state.autoScrollTop = null;
    follow(box.scrollHeight - box.scrollTop - box.clientHeight < 80);
  }

  // A message that grows after it was placed (its image shown once loaded), or a log whose view
  // shrinks, keeps a followed log at its newest message. Each node placed in the log is watched.
  const growth = new ResizeObserver(() => state.atEnd && selectedConversation() && scrollToEnd());

  function roleOf(conv, from) {
    if (from === me()) return "agent";
    return from && from === customerIdentity(conv) ? "customer" : "other";
  }

  function messageNode(conv, m) {
    const role = roleOf(conv, m.from);
    const node = el("div", { class: `msg ${role}`, "data-testid": "desk-message", "data-index": m.index, "data-author-role": role },
      el("span", { class: "msg-author", text: displayName(conv, m.from) }));
    if (m.body) node.append(el("p", { class: "msg-body", "data-testid": "message-body", text: m.body }));
    for (const media of Array.isArray(m.media) ? m.media : []) node.append(mediaNode(media));
    const meta = el("span", { class: "msg-meta" }, el("time", { datetime: m.date || null, text: formatTime(m.date) }));
    if (role === "agent") meta.append(" · ", el("span", { "data-testid": "message-status" }));
    node.append(meta);
    showReceipt(conv, m.index, node);
    return node;
  }

  function noticeNode(text) {
    return el("div", { class: "msg system", "data-testid": "desk-message", "data-author-role": "system" },
      el("p", { class: "msg-body", "data-testid": "message-body", text }));
  }

  function placeMessage(conv, m) {
    const node = messageNode(conv, m);
    placeNode(node, m.index, state.nodes.get(m.index));
    state.nodes.set(m.index, node);
  }

  function addNotice(conv, text) {
    const order = conv.lastIndex + 0.5 + conv.notices.length / 1000;
    conv.notices.push({ text, order });
    if (!isSelected(conv)) return;
    const follow = nearEnd();
    placeNode(noticeNode(text), order);
    if (follow) scrollToEnd();
  }

  function renderEarlierButton(conv) {
    if (!isSelected(conv)) return;
    let button = $("messages").querySelector("[data-testid=desk-load-earlier]");
    if (!conv.hasMore) {
      if (button && document.activeElement === button) $("messages").focus();
      if (button) button.remove();
      return;
    }
    if (!button) {
      button = el("button", {
        type: "button", class: "secondary earlier", "data-testid": "desk-load-earlier",
        on: { click: () => loadEarlier(selectedConversation()) },
      });
      placeNode(button, -Infinity);
    }
    button.textContent = conv.loadingEarlier ? "Loading…" : "Load earlier messages";
    button.disabled = conv.loadingEarlier;
  }

  // Keeps a message (live or from history); answers whether it was new.
  function storeMessage(conv, data, date) {
    if (typeof data.index !== "number") return false;
    const existing = conv.messages.get(data.index);
    if (existing && !existing.synthetic) return false;
    const record = { ...data, date: date || data.date_created || (existing && existing.date) || null, synthetic: !!data.synthetic };
    conv.messages.set(data.index, record);
    if (data.key && data.from === me()) dropPending(conv, conv.pending.get(data.key));
    if (data.index >= conv.lastIndex) {
      conv.lastIndex = data.index;
      conv.preview = previewOf(record);
    }
    if (isSelected(conv)) placeMessage(conv, record);
    return !existing;
  }

  function previewOf(m) {
    const files = Array.isArray(m.media) ? m.media : [];
    const text = m.body || (files.length ? `Attachment: ${files.map((f) => f.filename || "file").join(", ")}` : "");
    return m.from === me() ? `You: ${text}` : text;
  }

  function onMessageEvent(conv, data, date) {
    const follow = nearEnd();
    if (!storeMessage(conv, data, date)) return;
    const mine = data.from === me();
    if (!mine && conv.typing && conv.typing.identity === data.from) {
      conv.typing = null;
      if (isSelected(conv)) renderTyping(conv);
    }
    if (isSelected(conv)) {
      if (mine || follow) scrollToEnd();
      markRead(conv);
    } else if (!mine) {
      conv.unread += 1;
    }
    renderItem(conv);
  }

  async function loadHistory(conv) {
    try {
      mergeHistory(conv, await command("history", { channel_sid: conv.sid, limit: HISTORY_PAGE }));
      if (isSelected(conv)) scrollToEnd();
    } catch (err) {
      /* shown */
    }
  }

  async function loadEarlier(conv) {
    if (!conv || conv.loadingEarlier || !conv.messages.size) return;
    conv.loadingEarlier = true;
    renderEarlierButton(conv);
    try {
      const before = Math.min(...conv.messages.keys());
      const page = await command("history", { channel_sid: conv.sid, before_index: before, limit: HISTORY_PAGE });
      // Earlier messages go above what the agent is reading: keep the view where it was.
      const box = $("messages");
      const fromBottom = box.scrollHeight - box.scrollTop;
      mergeHistory(conv, page);
      if (isSelected(conv)) box.scrollTop = box.scrollHeight - fromBottom;
    } catch (err) {
      /* shown */
    } finally {
      conv.loadingEarlier = false;
      renderEarlierButton(conv);
    }
  }

  function mergeHistory(conv, page) {
    const messages = Array.isArray(page.messages) ? page.messages : [];
    const oldest = conv.messages.size ? Math.min(...conv.messages.keys()) : Infinity;
    for (const m of messages) {
      storeMessage(conv, m, m.date_created);
      // How far it got with the provider, for messages sent before this agent was on the channel.
      if (m.delivery) onDeliveryStatus(conv, { ...m.delivery, index: m.index });
    }
    // has_more speaks of what lies before this page: it counts if the page reaches furthest back.
    if (!messages.length) conv.hasMore = false;
    else if (messages[0].index <= oldest) conv.hasMore = !!page.has_more;
    renderItem(conv);
    renderEarlierButton(conv);
    markRead(conv);
  }

  // ---- Receipts, delivery, read horizon, typing ---------------------------------------------------

  function receiptFor(conv, index) {
    const reported = conv.delivery.get(index);
    if (reported && (reported.status === "failed" || reported.status === "undelivered")) {
      const code = reported.error_code ? ` (${reported.error_code})` : "";
      return `Not delivered${code}: ${reported.error_message || "the provider refused it"}`;
    }
    if (index <= conv.customerRead) return "Read";
    return reported ? DELIVERY_LABELS[reported.status] || String(reported.status) : "Sent";
  }

  function showReceipt(conv, index, node) {
    const status = node.querySelector("[data-testid=message-status]");
    if (!status) return;
    status.textContent = receiptFor(conv, index);
    const reported = conv.delivery.get(index);
    node.classList.toggle("failed", !!reported && DELIVERY_RANK[reported.status] === 5);
  }

  function renderReceipts(conv) {
    if (isSelected(conv)) for (const [index, node] of state.nodes) showReceipt(conv, index, node);
  }

  // Reports may cross on the way: a later stage is never replaced by an earlier one.
  function onDeliveryStatus(conv, data) {
    if (typeof data.index !== "number") return;
    const before = conv.delivery.get(data.index);
    if (before && (DELIVERY_RANK[before.status] ?? -1) > (DELIVERY_RANK[data.status] ?? -1)) return;
    conv.delivery.set(data.index, data);
    const node = isSelected(conv) && state.nodes.get(data.index);
    if (node) showReceipt(conv, data.index, node);
  }

  function onReadEvent(conv, data) {
    if (typeof data.index !== "number" || data.identity !== customerIdentity(conv)) return; // only the customer's horizon counts
    conv.customerRead = Math.max(conv.customerRead, data.index);
    renderReceipts(conv);
  }

  // Tells the others how far this agent has read, when the conversation is really in view.
  function markRead(conv) {
    if (!isSelected(conv) || document.visibilityState !== "visible" || !conv.messages.size) return;
    const latest = Math.max(...conv.messages.keys());
    if (latest <= conv.readSent) return;
    conv.readSent = latest;
    command("mark_read", { channel_sid: conv.sid, index: latest }, { quiet: true }).catch(() => {
      conv.readSent = -1;
    });
  }

  function onTypingEvent(conv, data) {
    if (!data.identity || data.identity === me()) return;
    conv.typing = { identity: data.identity, who: displayName(conv, data.identity), until: Date.now() + TYPING_SHOWN_MS };
    if (isSelected(conv)) renderTyping(conv);
  }

  function renderTyping(conv) {
    clearTimeout(state.typingTimer);
    const typing = conv && conv.typing;
    const showing = !!typing && typing.until > Date.now();
    $("typing").textContent = showing ? `${typing.who} is typing…` : "";
    $("typing").hidden = !showing;
    if (showing) state.typingTimer = setTimeout(() => renderTyping(selectedConversation()), typing.until - Date.now());
  }

  // ---- Composing and sending ----------------------------------------------------------------------

  function sendFromComposer() {
    const conv = selectedConversation();
    const body = $("input").value.trim();
    if (!conv || !body || $("input").disabled) return;
    $("input").value = "";
    const pending = { key: newKey(), fields: { body }, media: [], label: "", status: "sending", node: null };
    conv.pending.set(pending.key, pending);
    sendPending(conv, pending);
  }

  function onComposerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendFromComposer();
    }
  }

  // `typing` at most every two seconds while the agent writes.
  function onComposerInput() {
    const conv = selectedConversation();
    const now = Date.now();
    if (!conv || !$("input").value.trim() || now - state.typingSentAt < TYPING_SEND_EVERY_MS) return;
    state.typingSentAt = now;
    command("typing", { channel_sid: conv.sid }, { quiet: true }).catch(() => {});
  }

  function sendPending(conv, pending) {
    pending.status = "sending";
    showPending(conv, pending);
    command("send_message", { channel_sid: conv.sid, key: pending.key, ...pending.fields }).then((result) => {
      dropPending(conv, pending);
      // Shown as stored at once; the message event (same index) replaces it with the full data.
      if (!conv.messages.has(result.index)) {
        storeMessage(conv, {
          channel_sid: conv.sid, sid: result.sid, index: result.index, from: me(), body: pending.fields.body || (pending.fields.template ? pending.label : null),
          media: pending.media, key: pending.key, synthetic: true,
        }, new Date().toISOString());
        if (isSelected(conv)) scrollToEnd();
        renderItem(conv);
      }
    }, (err) => {
      if (/24-hour window/.test(err.message || "")) return offerTemplate(conv, pending);
      pending.status = "failed";
      showPending(conv, pending);
    });
  }

  // After WhatsApp's 24-hour window only an approved template reaches the customer: the text
  // goes back to the composer and the template form opens.
  function offerTemplate(conv, pending) {
    dropPending(conv, pending);
    if (pending.fields.body && isSelected(conv) && !$("input").value) $("input").value = pending.fields.body;
    if (!isSelected(conv)) return;
    $("template").hidden = false;
    $("template-name").focus();
  }

  function sendTemplate(event) {
    event.preventDefault();
    const conv = selectedConversation();
    const name = $("template-name").value.trim();
    if (!conv || !name) return $("template-name").focus();
    const variables = $("template-variables").value.split("\n").map((v) => v.trim()).filter(Boolean);
    const language = $("template-language").value.trim() || "en";
    closeTemplate();
    clearError();
    const pending = { key: newKey(), fields: { template: { name, language, variables } }, media: [], label: `Template ${name}`, status: "sending", node: null };
    conv.pending.set(pending.key, pending);
    sendPending(conv, pending);
  }

  function closeTemplate() {
    const hadFocus = $("template").contains(document.activeElement);
    $("template").hidden = true;
    if (hadFocus) $("input").focus();
  }

  function showPending(conv, pending) {
    if (!conv.pending.has(pending.key) || !isSelected(conv)) return;
    const old = pending.node;
    pending.node = pendingNode(conv, pending);
    placeNode(pending.node, Infinity, old);
    scrollToEnd();
  }

  function dropPending(conv, pending) {
    if (!pending) return;
    conv.pending.delete(pending.key);
    if (pending.node) pending.node.remove();
    pending.node = null;
  }

  function pendingNode(conv, pending) {
    const statusText = { uploading: "Uploading…", sending: "Sending…", failed: "Not sent" }[pending.status];
    const node = el("div", { class: "msg agent pending", "data-testid": "desk-message", "data-author-role": "agent", "data-pending": "true" },
      el("span", { class: "msg-author", text: "You" }));
    if (pending.fields && pending.fields.body) node.append(el("p", { class: "msg-body", "data-testid": "message-body", text: pending.fields.body }));
    if (pending.label) node.append(el("span", { class: "msg-file", text: pending.label }));
    const meta = el("span", { class: "msg-meta" }, el("span", { "data-testid": "message-status", text: statusText }));
    if (pending.status === "failed") {
      meta.append(" ",
        el("button", { type: "button", class: "link", text: "Retry", on: { click: () => sendPending(conv, pending) } }),
        " ",
        el("button", { type: "button", class: "link", text: "Discard", on: { click: () => dropPending(conv, pending) } }));
    }
    node.append(meta);
    return node;
  }

  async function onFileChosen() {
    const conv = selectedConversation();
    const file = $("file").files[0];
    $("file").value = "";
    if (!conv || !file) return;
    const pending = { key: newKey(), fields: null, media: [], label: `Attachment: ${file.name}`, status: "uploading", node: null };
    conv.pending.set(pending.key, pending);
    showPending(conv, pending);
    try {
      const form = new FormData();
      form.append("channel_sid", conv.sid);
      form.append("file", file, file.name);
      const response = await fetch("/v1/Media", {
        method: "POST",
        headers: { Authorization: `Bearer ${state.session.token}` },
        body: form,
      });
      if (!response.ok) throw new Error(await errorText(response));
      const media = await response.json();
      pending.media = [media];
      pending.fields = { media: [media.sid] };
      sendPending(conv, pending);
      clearError();
    } catch (err) {
      dropPending(conv, pending);
      showError(`${file.name} could not be sent: ${err.message}`);
    }
  }

  // ---- Media --------------------------------------------------------------------------------------

  const mediaUrls = new Map(); // media sid -> Promise of a blob: URL (or null)

  // The bearer token must never travel to another origin, whatever a message says.
  function sameOrigin(url) {
    try {
      return new URL(url, location.href).origin === location.origin;
    } catch (err) {
      return false;
    }
  }

  function mediaBlobUrl(media) {
    if (!mediaUrls.has(media.sid)) {
      const loading = (async () => {
        if (!media.url || !sameOrigin(media.url)) return null;
        const response = await fetch(media.url, { headers: { Authorization: `Bearer ${state.session.token}` } });
        if (!response.ok) throw new Error(await errorText(response));
        const blob = await response.blob();
        // Anything but an image is kept as opaque bytes, so a blob: URL never renders as a page.
        const safe = /^image\//.test(blob.type) ? blob : new Blob([blob], { type: "application/octet-stream" });
        return URL.createObjectURL(safe);
      })();
      loading.catch(() => mediaUrls.delete(media.sid));
      mediaUrls.set(media.sid, loading);
    }
    return mediaUrls.get(media.sid);
  }

  function mediaNode(media) {
    const name = String(media.filename || "attachment");
    const size = formatSize(media.size);
    if (/^image\//.test(media.content_type || "")) {
      const image = el("img", { class: "msg-image", alt: name });
      mediaBlobUrl(media).then((url) => url && (image.src = url),
        () => image.replaceWith(el("span", { class: "msg-file", text: `${name} (could not be loaded)` })));
      return image;
    }
    return el("button", {
      type: "button", class: "secondary msg-download", text: `Download ${name}${size ? ` (${size})` : ""}`,
      on: { click: () => download(media, name) },
    });
  }

  async function download(media, name) {
    try {
      const url = await mediaBlobUrl(media);
      if (url) el("a", { href: url, download: name }).click();
    } catch (err) {
      showError(`${name} could not be downloaded: ${err.message}`);
    }
  }

  // ---- Task actions: wrap up, complete, transfer --------------------------------------------------

  async function taskCommand(name) {
    const conv = selectedConversation();
    const task = conv && conv.task;
    if (!task || !task.reservation_sid) return showError("This conversation has no task of yours.");
    $(name).disabled = true;
    try {
      const result = await command(name, { reservation_sid: task.reservation_sid });
      if (conv.task && conv.task.sid === task.sid) {
        conv.task.assignment_status = laterStatus(conv.task.assignment_status, name === "wrapup" ? "wrapping" : result.status || "completed");
      }
      clearError();
      refreshConversation(conv);
      if (name === "complete") {
        announce(`${customerName(conv)}: task completed.`);
        closeConversation(conv); // the agent is done with it; the customer's next message brings it back
        return;
      }
      if (isSelected(conv)) $("complete").focus();
    } catch (err) {
      /* shown */
    } finally {
      if (isSelected(conv)) renderActions(conv);
    }
  }

  async function openTransfer() {
    if (!$("transfer-panel").hidden) return closeTransfer();
    $("transfer-panel").hidden = false;
    $("transfer").setAttribute("aria-expanded", "true");
    $("transfer-target").replaceChildren(el("option", { value: "", text: "Loading…" }));
    $("transfer-confirm").disabled = true;
    // Who is available changes all the time: ask each time the panel opens.
    await loadDirectory();
    if ($("transfer-panel").hidden) return;
    const queues = state.directory.queues.map((q) => el("option", { value: `queue:${q.sid}`, text: `Queue: ${q.friendly_name}` }));
    const agents = state.directory.workers
      .filter((w) => w.available && w.sid !== state.worker.sid && w.identity !== me())
      .map((w) => el("option", { value: `worker:${w.sid}`, text: `Agent: ${w.friendly_name}` }));
    const options = [...queues, ...agents];
    $("transfer-target").replaceChildren(...(options.length ? options : [el("option", { value: "", text: "No queue or agent to transfer to" })]));
    $("transfer-confirm").disabled = options.length === 0;
    $("transfer-target").focus();
  }

  function closeTransfer() {
    const hadFocus = $("transfer-panel").contains(document.activeElement);
    $("transfer-panel").hidden = true;
    $("transfer").setAttribute("aria-expanded", "false");
    if (hadFocus && !$("transfer").disabled) $("transfer").focus();
  }

  async function confirmTransfer() {
    const conv = selectedConversation();
    const task = conv && conv.task;
    const select = $("transfer-target");
    const [kind, sid] = select.value.split(":");
    if (!task || !sid) return;
    const target = select.selectedOptions[0] ? select.selectedOptions[0].textContent : sid;
    $("transfer-confirm").disabled = true;
    try {
      await command("transfer", { task_sid: task.sid, [kind === "queue" ? "to_queue_sid" : "to_worker_sid"]: sid });
      closeTransfer();
      clearError();
      addNotice(conv, `Transfer requested: ${target}.`);
      requestInfo(conv);
    } catch (err) {
      /* shown */
    } finally {
      $("transfer-confirm").disabled = false;
    }
  }

  // ---- Wiring -------------------------------------------------------------------------------------

  function wire() {
    $("signin-form").addEventListener("submit", onSignInSubmit);
    $("signout").addEventListener("click", () => endSession(""));
    $("activity").addEventListener("change", onActivityChange);
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      sendFromComposer();
    });
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
    $("template-cancel").addEventListener("click", closeTemplate);
    $("template").addEventListener("keydown", (event) => event.key === "Escape" && closeTemplate());
    document.addEventListener("visibilitychange", () => {
      updateTitle();
      if (document.visibilityState === "visible") markRead(selectedConversation());
    });
    window.addEventListener("focus", () => markRead(selectedConversation()));
    // Back online: no need to wait for the backoff.
    window.addEventListener("online", () => state.session && !state.socket && connect());
    setInterval(tickWaits, 1000);
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
})();
