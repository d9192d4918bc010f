/*
 * Switchboard web chat widget: one script tag adds a launcher and a chat panel to any page.
 *
 *   <script src="https://HOST/webchat/webchat.js" data-flex-flow-sid="FO..."></script>
 *
 * No framework, nothing loaded from elsewhere. The UI lives in an open shadow root so the host
 * page's CSS and ours never mix. Every piece of text is rendered as text (textContent), never as
 * HTML. Protocol: docs/customer-socket.md.
 */
(function () {
  "use strict";

  const script = document.currentScript;
  const DEFAULT_FIELDS = [
    { name: "friendly_name", label: "Your name", type: "text", required: true },
    { name: "email", label: "Email", type: "email" },
    { name: "question", label: "How can we help?", type: "textarea", required: true },
  ];
  const DEFAULTS = {
    flexFlowSid: "",
    apiBase: "",
    title: "Chat with us",
    subtitle: "We usually answer within minutes",
    primaryColor: "#1f5fd1",
    textColorOnPrimary: "#ffffff",
    position: "right",
    launcherLabel: "Chat",
    greeting: "Hi! How can we help?",
    preEngagement: DEFAULT_FIELDS,
    startLabel: "Start chat",
    inputPlaceholder: "Type a message",
    endLabel: "End chat",
    maxUploadBytes: 5 * 1024 * 1024,
    accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain",
    storageKey: "",
    open: false,
  };
  const PROTOCOL = "switchboard.customer.v1";
  const TYPING_EVERY_MS = 2000;
  const TYPING_SHOWN_MS = 4000;

  // --- options -------------------------------------------------------------------------------

  function optionsFromScript(el) {
    if (!el) return {};
    const found = {};
    for (const key of Object.keys(DEFAULTS)) {
      const attr = "data-" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      if (el.hasAttribute(attr)) found[key] = el.getAttribute(attr);
    }
    if (!found.apiBase && el.src) found.apiBase = new URL(el.src, location.href).origin;
    return found;
  }

  function normalise(raw) {
    const o = Object.assign({}, DEFAULTS, raw);
    if (typeof o.preEngagement === "string") {
      try {
        o.preEngagement = JSON.parse(o.preEngagement);
      } catch (err) {
        console.error("switchboard webchat: data-pre-engagement is not JSON", err);
        o.preEngagement = DEFAULT_FIELDS;
      }
    }
    if (!Array.isArray(o.preEngagement)) o.preEngagement = DEFAULT_FIELDS;
    o.maxUploadBytes = Number(o.maxUploadBytes) || DEFAULTS.maxUploadBytes;
    o.open = o.open === true || o.open === "true";
    o.apiBase = String(o.apiBase || location.origin).replace(/\/$/, "");
    o.storageKey = o.storageKey || "switchboard-webchat:" + o.flexFlowSid;
    o.accepted = String(o.accept).split(",").map((t) => t.trim()).filter(Boolean);
    return o;
  }

  // --- small DOM helpers ------------------------------------------------------------------------

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

  function clock(iso) {
    const date = iso ? new Date(iso) : new Date();
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function css(o) {
    return `
:host { all: initial; }
[hidden] { display: none !important; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.launcher { position: fixed; bottom: 20px; ${o.position === "left" ? "left" : "right"}: 20px; z-index: 2147483000;
  background: ${o.primaryColor}; color: ${o.textColorOnPrimary}; border: 0; border-radius: 28px; padding: 14px 22px;
  font-size: 15px; font-weight: 600; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
.panel { position: fixed; bottom: 84px; ${o.position === "left" ? "left" : "right"}: 20px; z-index: 2147483000;
  width: 370px; max-width: calc(100vw - 40px); height: 560px; max-height: calc(100vh - 110px); display: flex;
  flex-direction: column; background: #fff; color: #1d2330; border-radius: 12px; overflow: hidden;
  box-shadow: 0 10px 40px rgba(0,0,0,.3); font-size: 14px; }
.panel[hidden] { display: none; }
header { background: ${o.primaryColor}; color: ${o.textColorOnPrimary}; padding: 12px 14px; display: flex; gap: 8px; align-items: center; }
header .titles { flex: 1; min-width: 0; }
header h2 { margin: 0; font-size: 16px; }
header p { margin: 2px 0 0; font-size: 12px; opacity: .9; }
header button { background: transparent; color: inherit; border: 1px solid currentColor; border-radius: 6px; padding: 4px 8px; cursor: pointer; font-size: 12px; }
.status { font-size: 11px; color: #5b6474; padding: 4px 14px; background: #f3f5f9; }
.body { flex: 1; overflow-y: auto; padding: 12px 14px; display: flex; flex-direction: column; gap: 8px; }
form.pre { display: flex; flex-direction: column; gap: 10px; }
form.pre label { display: flex; flex-direction: column; gap: 4px; font-weight: 600; font-size: 13px; }
input, textarea, select { font: inherit; border: 1px solid #b8c0cc; border-radius: 6px; padding: 8px; color: #1d2330; background: #fff; }
textarea { resize: none; }
.primary { background: ${o.primaryColor}; color: ${o.textColorOnPrimary}; border: 0; border-radius: 6px; padding: 9px 14px; font-weight: 600; cursor: pointer; }
.secondary { background: #eef1f6; color: #1d2330; border: 1px solid #b8c0cc; border-radius: 6px; padding: 7px 12px; cursor: pointer; }
.msg { max-width: 82%; padding: 8px 10px; border-radius: 10px; background: #eef1f6; align-self: flex-start; overflow-wrap: anywhere; white-space: pre-wrap; }
.msg[data-author-role=customer] { align-self: flex-end; background: ${o.primaryColor}; color: ${o.textColorOnPrimary}; }
.msg[data-author-role=system] { align-self: center; background: transparent; color: #5b6474; font-size: 12px; font-style: italic; }
.msg[data-pending=true] { opacity: .7; }
.meta { display: block; font-size: 11px; opacity: .8; margin-top: 3px; }
.author { display: block; font-size: 11px; font-weight: 600; margin-bottom: 2px; }
.msg img { max-width: 100%; border-radius: 6px; display: block; margin-top: 4px; }
.file { margin-top: 4px; background: rgba(255,255,255,.85); color: #1d2330; border: 1px solid #b8c0cc; border-radius: 6px; padding: 4px 8px; cursor: pointer; }
.typing { min-height: 18px; padding: 0 14px; font-size: 12px; color: #5b6474; font-style: italic; }
.error { margin: 0 14px 6px; padding: 6px 8px; border-radius: 6px; background: #fdecec; color: #8a1c1c; font-size: 12px; }
.error[hidden], .typing[hidden] { display: none; }
.composer { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e1e5ec; align-items: flex-end; }
.composer textarea { flex: 1; min-height: 38px; max-height: 120px; }
.composer button { height: 38px; }
.confirm { display: flex; gap: 6px; align-items: center; padding: 8px 14px; background: #fff8e6; border-top: 1px solid #f0d78c; font-size: 13px; }
.confirm span { flex: 1; }
.earlier { align-self: center; }
button:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible { outline: 3px solid #ffbf47; outline-offset: 1px; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (prefers-reduced-motion: no-preference) { .panel { transition: opacity .15s ease; } }
`;
  }

  // --- the widget -----------------------------------------------------------------------------

  class Webchat {
    constructor(options) {
      this.o = normalise(options);
      this.session = this.load();
      this.socket = null;
      this.lastSequence = null;
      this.retryDelay = 500;
      this.pending = new Map(); // key -> {frame, node}
      this.commandId = 0;
      this.shown = new Map(); // index -> node
      this.read = {}; // other identities' read horizons
      this.lastTypingSent = 0;
      this.typingTimer = null;
      this.refreshTimer = null;
      this.ended = false;
      this.build();
      if (this.session) this.connect();
      else this.showForm();
      if (this.o.open) this.open();
    }

    // storage: the session survives reloads of the page
    load() {
      try {
        const stored = JSON.parse(localStorage.getItem(this.o.storageKey) || "null");
        if (stored && Date.parse(stored.expires_at) > Date.now() + 5000) return stored;
      } catch (err) {
        /* unreadable storage: start over */
      }
      localStorage.removeItem(this.o.storageKey);
      return null;
    }

    save() {
      localStorage.setItem(this.o.storageKey, JSON.stringify(this.session));
    }

    forget() {
      localStorage.removeItem(this.o.storageKey);
      this.session = null;
      clearTimeout(this.refreshTimer);
      if (this.socket) {
        this.socket.onclose = null;
        this.socket.close();
      }
      this.socket = null;
    }

    // --- layout ---
    build() {
      const o = this.o;
      this.host = el("div", { id: "switchboard-webchat" });
      const root = this.host.attachShadow({ mode: "open" });
      root.append(el("style", { text: css(o) }));
      this.launcher = el("button", {
        class: "launcher", type: "button", "data-testid": "webchat-launcher", "aria-expanded": "false",
        "aria-controls": "sb-panel", text: o.launcherLabel, onclick: () => (this.panel.hidden ? this.open() : this.close()),
      });
      this.endButton = el("button", {
        type: "button", "data-testid": "webchat-end", text: o.endLabel, onclick: () => this.confirmEnd(),
      });
      const minimise = el("button", { type: "button", "aria-label": "Minimise chat", text: "—", onclick: () => this.close() });
      this.statusLine = el("div", { class: "status", "data-testid": "webchat-status", role: "status", text: "" });
      this.body = el("div", { class: "body", "data-testid": "webchat-messages", role: "log", "aria-live": "polite", "aria-label": "Messages" });
      this.typing = el("div", { class: "typing", "data-testid": "webchat-typing", "aria-live": "polite", hidden: true });
      this.error = el("div", { class: "error", "data-testid": "webchat-error", role: "alert", hidden: true });
      this.input = el("textarea", {
        "data-testid": "webchat-input", rows: "1", placeholder: o.inputPlaceholder, "aria-label": "Message",
        onkeydown: (e) => this.onKey(e), oninput: () => this.onTyping(),
      });
      this.file = el("input", {
        type: "file", "data-testid": "webchat-file", accept: o.accept, class: "sr-only", tabindex: "-1", "aria-hidden": "true",
        onchange: () => this.onFile(),
      });
      const attach = el("button", {
        type: "button", class: "secondary", "data-testid": "webchat-attach", "aria-label": "Attach a file", text: "+",
        onclick: () => this.file.click(),
      });
      const send = el("button", { type: "button", class: "primary", "data-testid": "webchat-send", text: "Send", onclick: () => this.sendText() });
      this.composer = el("div", { class: "composer" }, this.file, attach, this.input, send);
      this.confirmBar = el("div", { class: "confirm", hidden: true });
      this.panel = el(
        "section",
        { class: "panel", id: "sb-panel", role: "dialog", "aria-label": o.title, "data-testid": "webchat-panel", hidden: true,
          onkeydown: (e) => { if (e.key === "Escape") this.close(); } },
        el("header", {}, el("div", { class: "titles" }, el("h2", { text: o.title }), o.subtitle ? el("p", { text: o.subtitle }) : null), this.endButton, minimise),
        this.statusLine, this.body, this.typing, this.error, this.confirmBar, this.composer,
      );
      root.append(this.launcher, this.panel);
      document.body.append(this.host);
    }

    open() {
      this.panel.hidden = false;
      this.launcher.setAttribute("aria-expanded", "true");
      const target = this.panel.querySelector("form input, form textarea") || this.input;
      target.focus();
      this.markRead();
    }

    close() {
      this.panel.hidden = true;
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.focus();
    }

    setStatus(text) {
      this.statusLine.textContent = text;
    }

    showError(text) {
      this.error.textContent = text;
      this.error.hidden = !text;
    }

    clearBody() {
      this.body.replaceChildren();
      this.shown.clear();
      this.pending.clear();
    }

    system(text) {
      const node = el("div", { class: "msg", "data-testid": "webchat-message", "data-author-role": "system" }, el("span", { "data-testid": "message-body", text }));
      this.body.append(node);
      this.scroll();
    }

    scroll() {
      this.body.scrollTop = this.body.scrollHeight;
    }

    // --- the pre-engagement form ---
    showForm(notice) {
      this.clearBody();
      this.composer.hidden = true;
      this.endButton.hidden = true;
      this.setStatus("");
      if (notice) this.system(notice);
      if (this.o.greeting) this.system(this.o.greeting);
      if (!this.o.preEngagement.length) {
        const start = el("button", { type: "button", class: "primary", "data-testid": "webchat-start", text: this.o.startLabel, onclick: () => this.start({}) });
        this.body.append(start);
        return;
      }
      const form = el("form", { class: "pre", "data-testid": "webchat-pre-engagement", novalidate: false });
      for (const field of this.o.preEngagement) {
        const id = "sb-field-" + field.name;
        let input;
        if (field.type === "textarea") input = el("textarea", { id, name: field.name, rows: "3", required: !!field.required });
        else if (field.type === "select") {
          input = el("select", { id, name: field.name, required: !!field.required });
          for (const option of field.options || []) input.append(el("option", { value: option, text: option }));
        } else input = el("input", { id, name: field.name, type: field.type || "text", required: !!field.required, autocomplete: field.name === "email" ? "email" : field.name === "friendly_name" ? "name" : undefined });
        form.append(el("label", { for: id }, el("span", { text: field.label || field.name }), input));
      }
      form.append(el("button", { type: "submit", class: "primary", "data-testid": "webchat-start", text: this.o.startLabel }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (!form.reportValidity()) return;
        const values = {};
        for (const field of this.o.preEngagement) values[field.name] = String(form.elements[field.name].value || "").trim();
        this.start(values);
      });
      this.body.append(form);
    }

    async start(values) {
      const friendlyName = values.friendly_name || undefined;
      const data = Object.assign({}, values);
      delete data.friendly_name;
      for (const k of Object.keys(data)) if (!data[k]) delete data[k];
      this.showError("");
      try {
        const response = await fetch(this.o.apiBase + "/v1/Webchat/Sessions", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ flex_flow_sid: this.o.flexFlowSid, friendly_name: friendlyName, pre_engagement_data: data }),
        });
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.message || "the chat could not start");
        this.session = answer;
        this.save();
      } catch (err) {
        this.showError("Sorry, the chat could not start: " + err.message);
        return;
      }
      this.ended = false;
      this.clearBody();
      this.connect();
      // The question from the form is the customer's first message: it starts the flow.
      if (data.question) this.send({ body: data.question });
    }

    // --- the socket ---
    connect() {
      this.composer.hidden = false;
      this.endButton.hidden = false;
      this.setStatus("Connecting…");
      this.scheduleRefresh();
      const base = this.o.apiBase.replace(/^http/, "ws");
      const query = this.lastSequence !== null ? "?resume_after=" + this.lastSequence : "";
      const socket = new WebSocket(base + "/v1/customer/ws" + query, [PROTOCOL, "access_token." + this.session.token]);
      this.socket = socket;
      socket.onmessage = (e) => this.onFrame(JSON.parse(e.data));
      socket.onclose = (e) => this.onClose(e);
    }

    onClose(event) {
      this.socket = null;
      if (event.code === 4401 || event.code === 4403) {
        this.forget();
        this.showForm("Your chat session has ended. Start a new chat any time.");
        return;
      }
      if (!this.session) return;
      this.setStatus("Reconnecting…");
      const delay = Math.min(this.retryDelay, 10000) * (0.75 + Math.random() / 2);
      this.retryDelay = Math.min(this.retryDelay * 2, 10000);
      setTimeout(() => this.session && !this.socket && this.connect(), delay);
    }

    sendFrame(frame) {
      if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
    }

    command(name, fields) {
      const frame = Object.assign({ type: "command", id: "w" + ++this.commandId, command: name }, fields || {});
      this.sendFrame(frame);
      return frame;
    }

    onFrame(frame) {
      if (frame.type === "ready") return this.onReady(frame);
      if (frame.type === "event") {
        this.lastSequence = frame.sequence;
        return this.onEvent(frame.event, frame.data || {}, frame.date);
      }
      if (frame.type === "result" && frame.command === "history") return this.onHistory(frame.data);
      if (frame.type === "error") this.showError(frame.message);
    }

    onReady(frame) {
      const resumed = this.lastSequence !== null;
      this.lastSequence = frame.sequence;
      this.retryDelay = 500;
      this.read = frame.read || {};
      this.setStatus("Connected");
      if (!resumed) this.command("history", { limit: 50 });
      // Messages that were waiting for the connection go now (the server dedupes by key).
      for (const { frame: pendingFrame } of this.pending.values()) this.sendFrame(pendingFrame);
      this.refreshReceipts();
    }

    onEvent(name, data, date) {
      if (name === "message") {
        this.showMessage(data, date);
        this.markRead();
      } else if (name === "typing") {
        this.typing.textContent = (data.identity || "Someone") + " is typing…";
        this.typing.hidden = false;
        clearTimeout(this.typingTimer);
        this.typingTimer = setTimeout(() => (this.typing.hidden = true), TYPING_SHOWN_MS);
      } else if (name === "read") {
        this.read[data.identity] = Math.max(this.read[data.identity] ?? -1, data.index);
        this.refreshReceipts();
      } else if (name === "member.joined") {
        this.system((data.identity || "An agent") + " joined the chat.");
      } else if (name === "chat.ended") {
        if (data.by !== "customer") this.finish("The chat was ended.");
      } else if (name === "channel.status" && data.status === "INACTIVE") {
        this.finish("This chat was closed.");
      }
    }

    // A page of history: the latest page on connecting, or an earlier one above what is shown.
    onHistory(page) {
      if (!this.loadingEarlier) {
        for (const m of page.messages) this.showMessage(m, m.date_created);
      } else {
        const anchor = this.body.querySelector("[data-testid=webchat-message][data-index]");
        for (const m of page.messages.filter((m) => !this.shown.has(m.index))) {
          const node = this.messageNode(m, m.date_created);
          anchor ? this.body.insertBefore(node, anchor) : this.body.append(node);
          this.shown.set(m.index, node);
        }
        this.loadingEarlier = false;
      }
      this.placeEarlierButton(page.has_more);
      this.refreshReceipts();
      this.markRead();
    }

    // --- messages ---
    messageNode(data, date) {
      const mine = data.from === this.session.identity;
      const node = el("div", { class: "msg", "data-testid": "webchat-message", "data-author-role": mine ? "customer" : "agent", "data-index": data.index });
      if (!mine) node.append(el("span", { class: "author", text: data.from }));
      if (data.body) node.append(el("span", { "data-testid": "message-body", text: data.body }));
      for (const media of data.media || []) node.append(this.mediaNode(media));
      const meta = el("span", { class: "meta" }, document.createTextNode(clock(date)));
      if (mine) meta.append(document.createTextNode(" · "), el("span", { "data-testid": "message-status", text: "Sent" }));
      node.append(meta);
      return node;
    }

    showMessage(data, date) {
      if (this.shown.has(data.index)) return;
      const node = this.messageNode(data, date);
      const waiting = data.key && this.pending.get(data.key);
      if (waiting) {
        waiting.node.replaceWith(node);
        this.pending.delete(data.key);
      } else {
        this.body.append(node);
      }
      this.shown.set(data.index, node);
      if (data.from !== this.session.identity) this.typing.hidden = true;
      this.refreshReceipts();
      this.scroll();
    }

    placeEarlierButton(hasMore) {
      const old = this.body.querySelector(".earlier");
      if (old) old.remove();
      if (!hasMore) return;
      const button = el("button", {
        type: "button", class: "secondary earlier", "data-testid": "webchat-load-earlier", text: "Load earlier messages",
        onclick: () => {
          this.loadingEarlier = true;
          this.command("history", { limit: 50, before_index: Math.min(...this.shown.keys()) });
        },
      });
      this.body.prepend(button);
    }

    refreshReceipts() {
      const horizon = Math.max(-1, ...Object.values(this.read));
      for (const [index, node] of this.shown) {
        const status = node.querySelector("[data-testid=message-status]");
        if (status) status.textContent = index <= horizon ? "Read" : "Sent";
      }
    }

    markRead() {
      if (this.panel.hidden || document.visibilityState !== "visible" || !this.shown.size) return;
      const latest = Math.max(...this.shown.keys());
      if (latest > (this.readSent ?? -1)) {
        this.readSent = latest;
        this.command("mark_read", { index: latest });
      }
    }

    // --- sending ---
    onKey(event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.sendText();
      }
    }

    onTyping() {
      const now = Date.now();
      if (now - this.lastTypingSent > TYPING_EVERY_MS && this.input.value) {
        this.lastTypingSent = now;
        this.command("typing");
      }
    }

    sendText() {
      const body = this.input.value.trim();
      if (!body || this.ended) return;
      this.input.value = "";
      this.send({ body });
    }

    send(fields) {
      const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
      const frame = { type: "command", id: "w" + ++this.commandId, command: "send_message", key, ...fields };
      const node = el("div", { class: "msg", "data-testid": "webchat-message", "data-author-role": "customer", "data-pending": "true" });
      if (fields.body) node.append(el("span", { "data-testid": "message-body", text: fields.body }));
      if (fields.label) node.append(el("span", { class: "meta", text: fields.label }));
      node.append(el("span", { class: "meta" }, el("span", { "data-testid": "message-status", text: "Sending…" })));
      delete frame.label;
      this.body.append(node);
      this.scroll();
      this.pending.set(key, { frame, node });
      this.sendFrame(frame);
    }

    async onFile() {
      const file = this.file.files && this.file.files[0];
      this.file.value = "";
      if (!file || !this.session) return;
      if (!this.o.accepted.includes(file.type)) return this.showError(`Files of type ${file.type || "unknown"} cannot be sent.`);
      if (file.size > this.o.maxUploadBytes) return this.showError(`${file.name} is larger than ${Math.round(this.o.maxUploadBytes / 1024)} KB.`);
      this.showError("");
      const form = new FormData();
      form.append("channel_sid", this.session.channel_sid);
      form.append("file", file, file.name);
      try {
        const response = await fetch(this.o.apiBase + "/v1/Media", { method: "POST", headers: { Authorization: "Bearer " + this.session.token }, body: form });
        const answer = await response.json();
        if (!response.ok) throw new Error(answer.message || response.statusText);
        const body = this.input.value.trim();
        this.input.value = "";
        this.send({ media: [answer.sid], body: body || undefined, label: file.name });
      } catch (err) {
        this.showError(`${file.name} could not be sent: ${err.message}`);
      }
    }

    mediaNode(media) {
      const name = media.filename || "attachment";
      if (media.content_type && media.content_type.startsWith("image/")) {
        const img = el("img", { alt: name });
        this.authorised(media.url).then((url) => url && (img.src = url));
        return img;
      }
      return el("button", {
        type: "button", class: "file", text: "Download " + name,
        onclick: async () => {
          const url = await this.authorised(media.url);
          if (!url) return;
          const link = el("a", { href: url, download: name });
          link.click();
        },
      });
    }

    async authorised(url) {
      try {
        const absolute = url.startsWith("/") ? this.o.apiBase + url : url;
        const response = await fetch(absolute, { headers: { Authorization: "Bearer " + this.session.token } });
        if (!response.ok) throw new Error(response.statusText);
        return URL.createObjectURL(await response.blob());
      } catch (err) {
        this.showError("An attachment could not be loaded.");
        return null;
      }
    }

    // --- token refresh: at 80% of its life, handed to the open socket ---
    scheduleRefresh() {
      clearTimeout(this.refreshTimer);
      const life = Date.parse(this.session.expires_at) - Date.now();
      const wait = Math.max(1000, life - Math.max(10000, (this.session.ttl || 3600) * 200));
      this.refreshTimer = setTimeout(() => this.refresh(), wait);
    }

    async refresh() {
      if (!this.session) return;
      try {
        const response = await fetch(this.o.apiBase + "/v1/Tokens/Refresh", { method: "POST", headers: { Authorization: "Bearer " + this.session.token } });
        if (response.status === 401) {
          this.forget();
          return this.showForm("Your chat session has ended. Start a new chat any time.");
        }
        if (!response.ok) throw new Error(response.statusText);
        const fresh = await response.json();
        Object.assign(this.session, { token: fresh.token, expires_at: fresh.expires_at, ttl: fresh.ttl });
        this.save();
        this.command("renew", { token: fresh.token });
        this.scheduleRefresh();
      } catch (err) {
        this.refreshTimer = setTimeout(() => this.refresh(), 15000);
      }
    }

    // --- ending ---
    confirmEnd() {
      this.confirmBar.replaceChildren(
        el("span", { text: "End this chat?" }),
        el("button", { type: "button", class: "primary", "data-testid": "webchat-end-confirm", text: "End chat", onclick: () => this.endChat() }),
        el("button", { type: "button", class: "secondary", text: "Keep chatting", onclick: () => (this.confirmBar.hidden = true) }),
      );
      this.confirmBar.hidden = false;
      this.confirmBar.querySelector("button").focus();
    }

    endChat() {
      this.confirmBar.hidden = true;
      this.command("end_chat");
      this.finish("You ended the chat.");
    }

    finish(text) {
      if (this.ended) return;
      this.ended = true;
      this.system(text);
      this.composer.hidden = true;
      this.endButton.hidden = true;
      const again = el("button", {
        type: "button", class: "primary", "data-testid": "webchat-new-chat", text: "Start a new chat",
        onclick: () => {
          this.forget();
          this.ended = false;
          this.showForm();
        },
      });
      this.body.append(again);
      this.scroll();
    }
  }

  let instance = null;
  window.SwitchboardWebchat = {
    init(options) {
      if (!instance) instance = new Webchat(options);
      return this;
    },
    open: () => instance && instance.open(),
    close: () => instance && instance.close(),
    endChat: () => instance && instance.endChat(),
  };
  const fromScript = optionsFromScript(script);
  if (fromScript.flexFlowSid) {
    const boot = () => window.SwitchboardWebchat.init(fromScript);
    if (document.body) boot();
    else document.addEventListener("DOMContentLoaded", boot);
  }
})();
