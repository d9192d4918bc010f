/*
 * Switchboard agent desk: signs an agent in, keeps the agent WebSocket open (resuming by sequence
 * after any drop), and shows reservations and conversations. Protocol: docs/agent-socket.md.
 * Every piece of data is rendered as text (textContent), never as HTML.
 */
(function () {
  "use strict";

  const PROTOCOL = "switchboard.agent.v1";
  const STORE = "switchboard-desk";
  const TYPING_EVERY_MS = 2000;
  const TYPING_SHOWN_MS = 4000;
  const $ = (id) => document.getElementById(id);

  const state = {
    session: null, // {token, expires_at, ttl, identity, worker_sid}
    socket: null,
    lastSequence: null,
    retryDelay: 500,
    nextId: 0,
    waiting: new Map(), // command id -> {resolve, reject, frame}
    reservations: new Map(), // reservation sid -> {data, node, since}
    conversations: new Map(), // channel sid -> conversation
    selected: null,
    directory: { queues: [], workers: [], activities: [] },
    lastTypingSent: 0,
    typingTimer: null,
    refreshTimer: null,
  };

  // --- DOM helpers ---------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  const clock = (iso) => (iso ? new Date(iso) : new Date()).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const minutes = (seconds) => `${Math.floor(seconds / 60)}:${String(Math.floor(seconds % 60)).padStart(2, "0")}`;

  function showError(text) {
    $("error").textContent = text || "";
    $("error").hidden = !text;
  }

  // --- sign-in -------------------------------------------------------------------------------

  function load() {
    const fragment = new URLSearchParams(location.hash.slice(1)).get("token");
    if (fragment) {
      history.replaceState(null, "", location.pathname + location.search);
      return adopt({ token: fragment });
    }
    try {
      const stored = JSON.parse(sessionStorage.getItem(STORE) || "null");
      if (stored && Date.parse(stored.expires_at) > Date.now() + 5000) return stored;
    } catch (err) {
      /* unreadable: sign in again */
    }
    return null;
  }

  // A pasted token: its expiry comes from its own claims (the signature is the server's business).
  function adopt(answer) {
    try {
      const claims = JSON.parse(atob(answer.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return {
        token: answer.token,
        expires_at: answer.expires_at || new Date(claims.exp * 1000).toISOString(),
        ttl: answer.ttl || claims.exp - claims.iat,
        identity: answer.identity || claims.grants.identity,
      };
    } catch (err) {
      return null;
    }
  }

  function showSignIn(reason) {
    $("desk").hidden = true;
    $("signin").hidden = false;
    $("signin-reason").textContent = reason || "";
    $("signin-reason").hidden = !reason;
  }

  async function devSignIn(event) {
    event.preventDefault();
    const identity = $("identity").value.trim();
    const response = await fetch("/v1/Desk/DevSignIn", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ identity }),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 404) {
      $("dev-signin").hidden = true;
      return showSignIn("Development sign-in is off here: paste a token from your organisation's sign-in.");
    }
    if (!response.ok) return showSignIn(answer.message || "Sign-in failed.");
    begin(adopt(answer));
  }

  function tokenSignIn(event) {
    event.preventDefault();
    const session = adopt({ token: $("token").value.trim() });
    if (!session) return showSignIn("That is not an access token.");
    begin(session);
  }

  function begin(session) {
    state.session = session;
    sessionStorage.setItem(STORE, JSON.stringify(session));
    $("signin").hidden = true;
    $("desk").hidden = false;
    $("me").textContent = session.identity;
    scheduleRefresh();
    connect();
  }

  function signOut(reason) {
    sessionStorage.removeItem(STORE);
    clearTimeout(state.refreshTimer);
    if (state.socket) {
      state.socket.onclose = null;
      state.socket.close();
    }
    state.socket = null;
    state.session = null;
    state.lastSequence = null;
    state.reservations.clear();
    state.conversations.clear();
    state.selected = null;
    $("reservations").replaceChildren();
    $("conversations").replaceChildren();
    showSignIn(reason);
  }

  // Tokens are renewed at 80% of their life and handed to the open socket.
  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    const life = Date.parse(state.session.expires_at) - Date.now();
    const wait = Math.max(1000, life - Math.max(10000, (state.session.ttl || 3600) * 200));
    state.refreshTimer = setTimeout(refresh, wait);
  }

  async function refresh() {
    if (!state.session) return;
    try {
      const response = await fetch("/v1/Tokens/Refresh", { method: "POST", headers: { Authorization: "Bearer " + state.session.token } });
      if (response.status === 401) return signOut("Your session expired; sign in again.");
      if (!response.ok) throw new Error(response.statusText);
      const fresh = await response.json();
      Object.assign(state.session, { token: fresh.token, expires_at: fresh.expires_at, ttl: fresh.ttl });
      sessionStorage.setItem(STORE, JSON.stringify(state.session));
      call("renew", { token: fresh.token }).catch(() => {});
      scheduleRefresh();
    } catch (err) {
      state.refreshTimer = setTimeout(refresh, 15000);
    }
  }

  // --- the socket ----------------------------------------------------------------------------

  function connect() {
    $("status").textContent = state.lastSequence === null ? "Connecting…" : "Reconnecting…";
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = state.lastSequence !== null ? "?resume_after=" + state.lastSequence : "";
    const socket = new WebSocket(`${scheme}//${location.host}/v1/agent/ws${query}`, [PROTOCOL, "access_token." + state.session.token]);
    state.socket = socket;
    socket.onmessage = (e) => onFrame(JSON.parse(e.data));
    socket.onclose = (e) => {
      state.socket = null;
      if (e.code === 4401 || e.code === 4403) return signOut(e.reason || "Your session ended; sign in again.");
      if (!state.session) return;
      $("status").textContent = "Reconnecting…";
      const delay = state.retryDelay * (0.75 + Math.random() / 2);
      state.retryDelay = Math.min(state.retryDelay * 2, 10000);
      setTimeout(() => state.session && !state.socket && connect(), delay);
    };
  }

  function send(frame) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(frame));
  }

  // A command's answer as a promise; unanswered ones are sent again after a reconnect.
  function call(command, fields) {
    const frame = Object.assign({ type: "command", id: "d" + ++state.nextId, command }, fields || {});
    return new Promise((resolve, reject) => {
      state.waiting.set(frame.id, { resolve, reject, frame });
      send(frame);
    });
  }

  function onFrame(frame) {
    if (frame.type === "ready") return onReady(frame);
    if (frame.type === "event") {
      state.lastSequence = frame.sequence;
      return onEvent(frame.event, frame.data || {}, frame.date);
    }
    const waiting = state.waiting.get(frame.id);
    if (!waiting) return;
    state.waiting.delete(frame.id);
    if (frame.type === "result") waiting.resolve(frame.data);
    else {
      showError(frame.message);
      waiting.reject(new Error(frame.message));
    }
  }

  async function onReady(frame) {
    const first = state.lastSequence === null;
    state.lastSequence = frame.sequence;
    state.retryDelay = 500;
    $("status").textContent = "Connected";
    for (const waiting of state.waiting.values()) send(waiting.frame);
    state.directory = await call("directory");
    fillActivities(frame.worker.activity_sid);
    if (!first) return;
    for (const r of frame.reservations) {
      if (r.status === "pending") addReservation({ reservation_sid: r.sid, ...r });
    }
    for (const channelSid of new Set([...frame.channels, ...frame.reservations.filter((r) => r.status !== "pending").map((r) => r.channel_sid)])) {
      if (channelSid) await ensureConversation(channelSid);
    }
  }

  function onEvent(name, data, date) {
    const conversation = state.conversations.get(data.channel_sid);
    switch (name) {
      case "reservation.created":
        return addReservation(data);
      case "reservation.accepted":
        removeReservation(data.reservation_sid);
        return ensureConversation(data.channel_sid, true);
      case "reservation.rejected":
      case "reservation.timeout":
      case "reservation.rescinded":
      case "reservation.canceled":
        return removeReservation(data.reservation_sid);
      case "task.canceled":
        removeReservation(data.reservation_sid);
        return conversation && setTaskState(conversation, "canceled");
      case "task.wrapup":
        return conversation && setTaskState(conversation, "wrapping");
      case "task.completed":
        return conversation && setTaskState(conversation, "completed");
      case "channel.joined":
        return ensureConversation(data.channel_sid);
      case "worker.activity.update":
        $("activity").value = data.worker_activity_sid;
        return;
      case "message":
        return conversation && onMessage(conversation, data, date);
      case "typing":
        return conversation && onTyping(conversation, data);
      case "read":
        if (!conversation) return;
        conversation.read[data.identity] = Math.max(conversation.read[data.identity] ?? -1, data.index);
        return conversation === selected() && refreshReceipts(conversation);
      case "message.status":
        return conversation && onDeliveryStatus(conversation, data);
      case "chat.ended":
        return conversation && notice(conversation, data.by === "customer" ? "The customer ended the chat." : "The chat was ended.");
      case "channel.status":
        return conversation && data.status === "INACTIVE" && notice(conversation, "Channel closed.");
      case "member.joined":
        return conversation && data.identity !== state.session.identity && notice(conversation, `${data.identity} joined.`);
    }
  }

  // --- activity ------------------------------------------------------------------------------

  function fillActivities(current) {
    const select = $("activity");
    select.replaceChildren(...state.directory.activities.map((a) => el("option", { value: a.sid, text: a.friendly_name })));
    select.value = current;
  }

  async function changeActivity() {
    try {
      await call("set_activity", { activity: $("activity").value });
      showError("");
    } catch (err) {
      /* shown */
    }
  }

  // --- reservations --------------------------------------------------------------------------

  function addReservation(data) {
    if (state.reservations.has(data.reservation_sid)) return;
    const attributes = data.task_attributes || {};
    const name = attributes.name || attributes.from || "Customer";
    const channel = attributes.channelType || data.task_channel_unique_name || "chat";
    const question = (data.pre_engagement_data || {}).question;
    const since = Date.now() - (data.task_age || 0) * 1000;
    const wait = el("span", { "data-testid": "reservation-wait", text: minutes((Date.now() - since) / 1000) });
    const node = el(
      "li",
      { class: "reservation", "data-testid": "desk-reservation", "data-reservation-sid": data.reservation_sid },
      el("div", {}, el("span", { class: "who", "data-testid": "reservation-name", text: name }), el("span", { class: "tag", "data-testid": "reservation-channel", text: channel })),
      el("div", { class: "state" }, document.createTextNode("Waiting "), wait),
      question ? el("div", { class: "question", text: `“${question}”` }) : null,
      el(
        "div",
        { class: "buttons" },
        el("button", { type: "button", "data-testid": "reservation-accept", text: "Accept", onclick: () => answer("accept", data.reservation_sid) }),
        el("button", { type: "button", class: "quiet", "data-testid": "reservation-reject", text: "Reject", onclick: () => answer("reject", data.reservation_sid) }),
      ),
    );
    state.reservations.set(data.reservation_sid, { data, node, since, wait });
    $("reservations").append(node);
    document.title = "(" + state.reservations.size + ") Switchboard · Agent desk";
  }

  function removeReservation(sid) {
    const found = state.reservations.get(sid);
    if (!found) return;
    found.node.remove();
    state.reservations.delete(sid);
    document.title = (state.reservations.size ? "(" + state.reservations.size + ") " : "") + "Switchboard · Agent desk";
  }

  async function answer(command, reservationSid) {
    try {
      await call(command, { reservation_sid: reservationSid });
      removeReservation(reservationSid);
    } catch (err) {
      /* shown */
    }
  }

  setInterval(() => {
    for (const r of state.reservations.values()) r.wait.textContent = minutes((Date.now() - r.since) / 1000);
  }, 1000);

  // --- conversations -------------------------------------------------------------------------

  const selected = () => state.conversations.get(state.selected);

  async function ensureConversation(channelSid, select) {
    if (!channelSid) return;
    let conversation = state.conversations.get(channelSid);
    if (!conversation) {
      conversation = { sid: channelSid, info: null, unread: 0, read: {}, shown: new Map(), pending: new Map(), notices: [], node: null };
      state.conversations.set(channelSid, conversation);
      conversation.node = conversationNode(conversation);
      $("conversations").append(conversation.node.item);
    }
    await loadInfo(conversation);
    if (select || !state.selected) selectConversation(channelSid);
  }

  async function loadInfo(conversation) {
    try {
      conversation.info = await call("channel_info", { channel_sid: conversation.sid });
    } catch (err) {
      return;
    }
    for (const m of conversation.info.members) {
      if (m.identity !== state.session.identity && m.last_consumed_message_index !== null) conversation.read[m.identity] = m.last_consumed_message_index;
    }
    renderConversationNode(conversation);
    if (conversation === selected()) renderHeader(conversation);
  }

  function conversationNode(conversation) {
    const name = el("span", { class: "name" });
    const tag = el("span", { class: "tag" });
    const unread = el("span", { class: "unread", "data-testid": "conversation-unread", hidden: true });
    const preview = el("div", { class: "preview" });
    const taskState = el("div", { class: "state" });
    const button = el(
      "button",
      { type: "button", class: "conversation", "data-testid": "desk-conversation", "data-channel-sid": conversation.sid, onclick: () => selectConversation(conversation.sid) },
      el("div", { class: "line" }, name, tag, unread),
      preview,
      taskState,
    );
    return { item: el("li", {}, button), button, name, tag, unread, preview, taskState };
  }

  function customerName(conversation) {
    const info = conversation.info;
    return (info && (info.customer.name || info.friendly_name)) || conversation.sid;
  }

  function renderConversationNode(conversation) {
    const node = conversation.node;
    const info = conversation.info;
    node.name.textContent = customerName(conversation);
    node.tag.textContent = info ? info.channel_type : "";
    node.unread.textContent = String(conversation.unread);
    node.unread.hidden = conversation.unread === 0;
    const task = info && info.task;
    node.taskState.textContent = task ? task.assignment_status : "";
    node.button.setAttribute("aria-current", String(conversation.sid === state.selected));
    node.button.setAttribute("aria-label", `${customerName(conversation)}, ${conversation.unread} unread`);
  }

  async function selectConversation(channelSid) {
    state.selected = channelSid;
    const conversation = selected();
    for (const other of state.conversations.values()) renderConversationNode(other);
    $("empty").hidden = true;
    $("chat").hidden = false;
    $("transfer-panel").hidden = true;
    $("template").hidden = true;
    $("typing").hidden = true;
    showError("");
    conversation.unread = 0;
    conversation.shown = new Map();
    conversation.pending = new Map();
    $("messages").replaceChildren();
    renderHeader(conversation);
    renderConversationNode(conversation);
    try {
      const page = await call("history", { channel_sid: channelSid, limit: 50 });
      if (state.selected !== channelSid) return;
      showPage(conversation, page, false);
      for (const text of conversation.notices) system(text);
    } catch (err) {
      /* shown */
    }
    markRead(conversation);
  }

  function renderHeader(conversation) {
    const info = conversation.info;
    $("chat-title").textContent = customerName(conversation);
    if (!info) return;
    const pre = (info.attributes && info.attributes.pre_engagement_data) || {};
    const details = [info.channel_type, ...Object.entries(pre).map(([k, v]) => `${k}: ${v}`)];
    if (info.customer.identity && info.channel_type !== "web") details.push(info.customer.identity);
    $("chat-details").textContent = details.join(" · ");
    const task = info.task;
    const status = task ? task.assignment_status : null;
    $("wrapup").disabled = status !== "assigned";
    $("transfer").disabled = status !== "assigned";
    $("complete").disabled = !(status === "wrapping" || status === "assigned");
  }

  function setTaskState(conversation, status) {
    if (conversation.info && conversation.info.task) conversation.info.task.assignment_status = status;
    renderConversationNode(conversation);
    if (conversation === selected()) renderHeader(conversation);
  }

  function notice(conversation, text) {
    conversation.notices.push(text);
    if (conversation === selected()) system(text);
    loadInfo(conversation);
  }

  function system(text) {
    $("messages").append(el("div", { class: "msg", "data-testid": "desk-message", "data-author-role": "system" }, el("span", { "data-testid": "message-body", text })));
    scroll();
  }

  const scroll = () => ($("messages").scrollTop = $("messages").scrollHeight);

  // --- messages ------------------------------------------------------------------------------

  function roleOf(conversation, from) {
    if (from === state.session.identity) return "agent";
    const info = conversation.info;
    return info && info.customer.identity === from ? "customer" : "other";
  }

  function messageNode(conversation, data, date) {
    const role = roleOf(conversation, data.from);
    const node = el("div", { class: "msg", "data-testid": "desk-message", "data-author-role": role, "data-index": data.index });
    if (role !== "agent") node.append(el("span", { class: "author", text: role === "customer" ? customerName(conversation) : data.from }));
    if (data.body) node.append(el("span", { "data-testid": "message-body", text: data.body }));
    for (const media of data.media || []) node.append(mediaNode(media));
    const meta = el("span", { class: "meta" }, document.createTextNode(clock(date)));
    if (role === "agent") meta.append(document.createTextNode(" · "), el("span", { "data-testid": "message-status", text: "Sent" }));
    node.append(meta);
    return node;
  }

  function showMessage(conversation, data, date) {
    if (conversation.shown.has(data.index)) return;
    const node = messageNode(conversation, data, date);
    const waiting = data.key && conversation.pending.get(data.key);
    if (waiting) {
      waiting.replaceWith(node);
      conversation.pending.delete(data.key);
    } else $("messages").append(node);
    conversation.shown.set(data.index, node);
  }

  function showPage(conversation, page, earlier) {
    const box = $("messages");
    if (!earlier) for (const m of page.messages) showMessage(conversation, m, m.date_created);
    else {
      const anchor = box.querySelector("[data-testid=desk-message][data-index]");
      for (const m of page.messages.filter((m) => !conversation.shown.has(m.index))) {
        const node = messageNode(conversation, m, m.date_created);
        anchor ? box.insertBefore(node, anchor) : box.append(node);
        conversation.shown.set(m.index, node);
      }
    }
    const old = box.querySelector(".earlier");
    if (old) old.remove();
    if (page.has_more) {
      box.prepend(el("button", { type: "button", class: "earlier", "data-testid": "desk-load-earlier", text: "Load earlier messages", onclick: () => loadEarlier(conversation) }));
    }
    refreshReceipts(conversation);
    if (!earlier) scroll();
  }

  async function loadEarlier(conversation) {
    const before = Math.min(...conversation.shown.keys());
    try {
      const page = await call("history", { channel_sid: conversation.sid, before_index: before, limit: 50 });
      if (conversation === selected()) showPage(conversation, page, true);
    } catch (err) {
      /* shown */
    }
  }

  function onMessage(conversation, data, date) {
    const mine = data.from === state.session.identity;
    conversation.node.preview.textContent = data.body || (data.media && data.media.length ? "Attachment" : "");
    if (conversation === selected()) {
      showMessage(conversation, data, date);
      if (!mine) $("typing").hidden = true;
      refreshReceipts(conversation);
      scroll();
      markRead(conversation);
    } else if (!mine) {
      conversation.unread += 1;
      renderConversationNode(conversation);
    }
  }

  // SMS, WhatsApp and Messenger report how far a message got; web chats report reads.
  const DELIVERY_LABELS = { queued: "Queued", sending: "Sending", sent: "Sent", delivered: "Delivered", read: "Read" };

  function onDeliveryStatus(conversation, data) {
    conversation.delivery = conversation.delivery || {};
    conversation.delivery[data.index] = data;
    if (conversation === selected()) refreshReceipts(conversation);
  }

  function refreshReceipts(conversation) {
    const horizon = Math.max(-1, ...Object.values(conversation.read));
    const delivery = conversation.delivery || {};
    for (const [index, node] of conversation.shown) {
      const status = node.querySelector("[data-testid=message-status]");
      if (!status) continue;
      const reported = delivery[index];
      if (reported && (reported.status === "failed" || reported.status === "undelivered")) {
        const code = reported.error_code ? ` (${reported.error_code})` : "";
        status.textContent = `Not delivered${code}: ${reported.error_message || "the provider refused it"}`;
        node.dataset.failed = "true";
      } else if (index <= horizon) status.textContent = "Read";
      else status.textContent = reported ? DELIVERY_LABELS[reported.status] || reported.status : "Sent";
    }
  }

  function markRead(conversation) {
    if (document.visibilityState !== "visible" || !conversation.shown.size) return;
    const latest = Math.max(...conversation.shown.keys());
    if (latest > (conversation.readSent ?? -1)) {
      conversation.readSent = latest;
      call("mark_read", { channel_sid: conversation.sid, index: latest }).catch(() => {});
    }
  }

  function onTyping(conversation, data) {
    if (conversation !== selected()) return;
    const who = roleOf(conversation, data.identity) === "customer" ? customerName(conversation) : data.identity;
    $("typing").textContent = `${who} is typing…`;
    $("typing").hidden = false;
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => ($("typing").hidden = true), TYPING_SHOWN_MS);
  }

  // --- composing -----------------------------------------------------------------------------

  function sendMessage(fields, label) {
    const conversation = selected();
    if (!conversation) return;
    const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    const node = el("div", { class: "msg", "data-testid": "desk-message", "data-author-role": "agent", "data-pending": "true" });
    if (fields.body) node.append(el("span", { "data-testid": "message-body", text: fields.body }));
    if (label) node.append(el("span", { class: "meta", text: label }));
    node.append(el("span", { class: "meta" }, el("span", { "data-testid": "message-status", text: "Sending…" })));
    conversation.pending.set(key, node);
    $("messages").append(node);
    scroll();
    call("send_message", { channel_sid: conversation.sid, key, ...fields }).catch((err) => {
      node.remove();
      // After WhatsApp's 24-hour window only an approved template reaches the customer.
      if (/24-hour window/.test(err.message)) $("template").hidden = false;
    });
  }

  function sendTemplate(event) {
    event.preventDefault();
    const name = $("template-name").value.trim();
    const variables = $("template-variables").value.split("\n").map((v) => v.trim()).filter(Boolean);
    if (!name) return;
    $("template").hidden = true;
    showError("");
    sendMessage({ template: { name, variables } }, "Template " + name);
  }

  function sendText() {
    const body = $("input").value.trim();
    if (!body) return;
    $("input").value = "";
    sendMessage({ body });
  }

  function onInput() {
    const conversation = selected();
    const now = Date.now();
    if (conversation && $("input").value && now - state.lastTypingSent > TYPING_EVERY_MS) {
      state.lastTypingSent = now;
      call("typing", { channel_sid: conversation.sid }).catch(() => {});
    }
  }

  async function onFile() {
    const conversation = selected();
    const file = $("file").files[0];
    $("file").value = "";
    if (!file || !conversation) return;
    const form = new FormData();
    form.append("channel_sid", conversation.sid);
    form.append("file", file, file.name);
    try {
      const response = await fetch("/v1/Media", { method: "POST", headers: { Authorization: "Bearer " + state.session.token }, body: form });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.message || response.statusText);
      sendMessage({ media: [answer.sid] }, file.name);
      showError("");
    } catch (err) {
      showError(`${file.name} could not be sent: ${err.message}`);
    }
  }

  function mediaNode(media) {
    const name = media.filename || "attachment";
    if ((media.content_type || "").startsWith("image/")) {
      const img = el("img", { alt: name });
      authorised(media.url).then((url) => url && (img.src = url));
      return img;
    }
    return el("button", {
      type: "button", class: "file", text: "Download " + name,
      onclick: async () => {
        const url = await authorised(media.url);
        if (url) el("a", { href: url, download: name }).click();
      },
    });
  }

  async function authorised(url) {
    try {
      const response = await fetch(url, { headers: { Authorization: "Bearer " + state.session.token } });
      if (!response.ok) throw new Error(response.statusText);
      return URL.createObjectURL(await response.blob());
    } catch (err) {
      showError("An attachment could not be loaded.");
      return null;
    }
  }

  // --- task actions --------------------------------------------------------------------------

  async function taskAction(command) {
    const conversation = selected();
    const task = conversation && conversation.info && conversation.info.task;
    if (!task || !task.reservation_sid) return showError("This conversation has no task of yours.");
    try {
      await call(command, { reservation_sid: task.reservation_sid });
      setTaskState(conversation, command === "complete" ? "completed" : "wrapping");
    } catch (err) {
      /* shown */
    }
  }

  async function openTransfer() {
    // Who is available changes all the time: ask again each time.
    try {
      state.directory = await call("directory");
    } catch (err) {
      return;
    }
    const others = state.directory.workers.filter((w) => w.identity !== state.session.identity && w.available);
    $("transfer-target").replaceChildren(
      ...state.directory.queues.map((q) => el("option", { value: "queue:" + q.sid, text: "Queue: " + q.friendly_name })),
      ...others.map((w) => el("option", { value: "worker:" + w.sid, text: "Agent: " + w.friendly_name })),
    );
    $("transfer-panel").hidden = false;
    $("transfer-target").focus();
  }

  async function confirmTransfer() {
    const conversation = selected();
    const task = conversation && conversation.info && conversation.info.task;
    const [kind, sid] = $("transfer-target").value.split(":");
    if (!task || !sid) return;
    try {
      await call("transfer", { task_sid: task.sid, [kind === "queue" ? "to_queue_sid" : "to_worker_sid"]: sid });
      $("transfer-panel").hidden = true;
      notice(conversation, "Transferred.");
    } catch (err) {
      /* shown */
    }
  }

  // --- wiring --------------------------------------------------------------------------------

  $("dev-signin").addEventListener("submit", devSignIn);
  $("token-signin").addEventListener("submit", tokenSignIn);
  $("signout").addEventListener("click", () => signOut());
  $("activity").addEventListener("change", changeActivity);
  $("send").addEventListener("click", sendText);
  $("input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      sendText();
    }
  });
  $("input").addEventListener("input", onInput);
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", onFile);
  $("wrapup").addEventListener("click", () => taskAction("wrapup"));
  $("complete").addEventListener("click", () => taskAction("complete"));
  $("transfer").addEventListener("click", openTransfer);
  $("transfer-confirm").addEventListener("click", confirmTransfer);
  $("transfer-cancel").addEventListener("click", () => ($("transfer-panel").hidden = true));
  $("template").addEventListener("submit", sendTemplate);
  $("template-cancel").addEventListener("click", () => ($("template").hidden = true));
  document.addEventListener("visibilitychange", () => selected() && markRead(selected()));

  const session = load();
  if (session) begin(session);
  else showSignIn();
})();
