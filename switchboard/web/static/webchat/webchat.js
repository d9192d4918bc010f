/*
 * Switchboard web chat widget: one script tag adds a launcher and a chat panel to any page.
 *
 *   <script src="https://HOST/webchat/webchat.js" data-flex-flow-sid="FO…"></script>
 *
 * or, configured from the page's own script: SwitchboardWebchat.init({ flexFlowSid: "FO…", … }).
 *
 * One self-contained file as served: the API puts the shared resumable socket
 * (static/shared/resumable-socket.js: ResumableSocket, TokenRenewal, CommandError) before this one.
 * No framework, no build step, nothing loaded from elsewhere. The UI lives
 * in an open shadow root so the page's CSS and ours never mix. Every piece of text (message bodies,
 * names, filenames, errors, options) is set with textContent or text nodes, never parsed as HTML.
 * Protocol: docs/customer-socket.md (sessions, token refresh, media, the customer WebSocket).
 */
(() => {
  "use strict";

  if (window.SwitchboardWebchat) return; // included twice: the first copy owns the page

  const SCRIPT = document.currentScript;
  const SCRIPT_ORIGIN = SCRIPT && SCRIPT.src ? new URL(SCRIPT.src, location.href).origin : location.origin;
  const PROTOCOL = "switchboard.customer.v1";
  const HISTORY_PAGE = 50;
  const MAX_BODY = 8192; // characters: at most 4 bytes each in UTF-8, within the server's 32 KiB
  const TYPING_EVERY_MS = 2000;
  const TYPING_SHOWN_MS = 4000;
  const FIELD_TYPES = ["text", "email", "tel", "textarea", "select"];
  const EXPIRED = "Your chat session has expired. Start a new chat any time.";

  const DEFAULT_FIELDS = [
    { name: "friendly_name", label: "Your name", type: "text", required: true },
    { name: "email", label: "Email", type: "email" },
    { name: "question", label: "How can we help?", type: "textarea", required: true },
  ];
  const DEFAULTS = {
    flexFlowSid: "",
    apiBase: "",
    title: "Chat with us",
    subtitle: "",
    primaryColor: "#1f5fd1",
    textColorOnPrimary: "#fff",
    position: "right",
    launcherLabel: "Chat",
    greeting: "Hi! How can we help?",
    preEngagement: DEFAULT_FIELDS,
    startLabel: "Start chat",
    inputPlaceholder: "Type a message",
    endLabel: "End chat",
    maxUploadBytes: 5242880,
    accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain",
    storageKey: "",
    open: false,
    postChatRating: true, // offer a 1-5 rating and a comment once the conversation ends
  };
  const RATING_LABELS = ["Very poor", "Poor", "Okay", "Good", "Excellent"];
  const RATING_COMMENT_MAX = 1000;

  // Icons are fixed path data, drawn with stroke (24×24).
  const ICONS = {
    chat: "M4 5h16v11H9l-5 4z",
    clip: "M20 11.5l-8 8a5 5 0 0 1-7-7l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7L9.6 17.3a1.7 1.7 0 0 1-2.4-2.4L15 7.1",
    send: "M4 12l16-8-5 16-3-7zM12 13l8-9",
    minimise: "M6 12h12",
    file: "M7 3h7l5 5v13H7zM14 3v5h5",
  };

  // --- options --------------------------------------------------------------------------------

  /** data-* attributes of the script tag, as camelCase options (data-flex-flow-sid → flexFlowSid). */
  function optionsFromTag(tag) {
    const found = {};
    if (!tag) return found;
    for (const name of Object.keys(DEFAULTS)) {
      const attribute = "data-" + name.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      if (tag.hasAttribute(attribute)) found[name] = tag.getAttribute(attribute);
    }
    return found;
  }

  function parseFields(value) {
    let fields = value;
    if (typeof fields === "string") {
      try {
        fields = JSON.parse(fields);
      } catch (err) {
        console.warn("Switchboard web chat: pre-engagement is not valid JSON, using the default form", err);
        return DEFAULT_FIELDS;
      }
    }
    if (!Array.isArray(fields)) return DEFAULT_FIELDS;
    return fields
      .filter((f) => f && typeof f.name === "string" && f.name)
      .map((f) => ({ ...f, type: FIELD_TYPES.includes(f.type) ? f.type : "text", label: String(f.label || f.name) }));
  }

  /** A colour for the stylesheet: only a valid CSS colour, nothing that could end the declaration. */
  function color(value, fallback) {
    const ok = typeof value === "string" && !/[;{}<>\\]/.test(value) && window.CSS && CSS.supports("color", value);
    return ok ? value : fallback;
  }

  function normalise(raw) {
    const o = { ...DEFAULTS };
    for (const [name, value] of Object.entries(raw || {})) {
      if (name in DEFAULTS && value !== undefined && value !== null) o[name] = value;
    }
    o.flexFlowSid = String(o.flexFlowSid).trim();
    o.apiBase = new URL(o.apiBase || SCRIPT_ORIGIN, location.href).href.replace(/\/+$/, "");
    o.preEngagement = parseFields(o.preEngagement);
    o.maxUploadBytes = Number(o.maxUploadBytes) > 0 ? Number(o.maxUploadBytes) : DEFAULTS.maxUploadBytes;
    o.accepted = String(o.accept).split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
    o.position = o.position === "left" ? "left" : "right";
    o.open = o.open === true || o.open === "true";
    o.postChatRating = !(o.postChatRating === false || o.postChatRating === "false");
    o.storageKey = o.storageKey || "switchboard-webchat:" + o.flexFlowSid;
    o.primaryColor = color(o.primaryColor, DEFAULTS.primaryColor);
    o.textColorOnPrimary = color(o.textColorOnPrimary, DEFAULTS.textColorOnPrimary);
    for (const name of ["title", "subtitle", "launcherLabel", "greeting", "startLabel", "inputPlaceholder", "endLabel"]) {
      o[name] = String(o[name]);
    }
    return o;
  }

  // --- small helpers --------------------------------------------------------------------------

  /**
   * The widget's styles as a constructed stylesheet: a page whose Content-Security-Policy allows no
   * inline styles still shows the widget. Answers the nodes to append (a <style> in old browsers).
   */
  function stylesheet(root, text) {
    if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
      try {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(text);
        root.adoptedStyleSheets = [sheet];
        return [];
      } catch (err) {
        // falls back to a <style> element below
      }
    }
    return [h("style", { text })];
  }

  /** createElement with attributes; "text" sets textContent, on* functions become listeners. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
    return node;
  }

  /** An agent's picture: only an https URL or a path on the chat's own site (what Switchboard
   * accepts when the picture is saved), shown with the name as its text; else, or if it does not
   * load, the name's initials. */
  function avatar(name, url) {
    const words = String(name).trim().split(/\s+/).filter(Boolean);
    const initials = h("span", { class: "avatar initials", "aria-hidden": "true", "data-initials": words.slice(0, 2).map((w) => w[0].toUpperCase()).join("") });
    const usable = typeof url === "string" && (/^https:\/\//i.test(url) || (url.startsWith("/") && !url.startsWith("//")));
    if (!usable) return initials;
    const picture = h("img", { class: "avatar", src: url, alt: name, width: "24", height: "24", referrerpolicy: "no-referrer", "data-testid": "webchat-avatar" });
    picture.addEventListener("error", () => picture.replaceWith(initials));
    return picture;
  }

  function icon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" })) {
      svg.setAttribute(k, v);
    }
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  /**
   * The local time of an ISO date (now when absent), written as the customer's browser writes
   * times (12- or 24-hour), as the agent desk does for the agent: each reads their own clock.
   */
  function clock(iso) {
    const date = iso ? new Date(iso) : new Date();
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /** When the business opens next, in the customer's own time zone and words. */
  function localWhen(iso) {
    const when = new Date(iso);
    const sameYear = when.getFullYear() === new Date().getFullYear();
    return when.toLocaleString(undefined, {
      weekday: "long", month: "long", day: "numeric", year: sameYear ? undefined : "numeric", hour: "numeric", minute: "2-digit",
    });
  }

  function formatBytes(n) {
    if (!(n >= 0)) return "";
    if (n < 1024) return n + " B";
    const [value, unit] = n < 1048576 ? [n / 1024, "KB"] : [n / 1048576, "MB"];
    return value.toFixed(1).replace(/\.0$/, "") + " " + unit;
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  /** The message of a failed HTTP answer: Twilio's {message} when there is one. */
  async function errorText(response) {
    try {
      const answer = await response.json();
      if (answer && answer.message) return String(answer.message);
    } catch (err) {
      /* not JSON */
    }
    return "HTTP " + response.status;
  }

  function css(o) {
    const side = o.position;
    return `
:host { all: initial !important; display: block !important; }
[hidden] { display: none !important; }
.sb { --sb-primary: ${o.primaryColor}; --sb-on-primary: ${o.textColorOnPrimary};
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d2330; }
.sb *, .sb *::before, .sb *::after { box-sizing: border-box; }
button, input, textarea, select { font: inherit; color: inherit; margin: 0; }
button { cursor: pointer; }
button:disabled { cursor: default; opacity: .6; }
svg { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; flex: none; }
:focus-visible { outline: 3px solid #f79009; outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
.launcher { position: fixed; bottom: 20px; ${side}: 20px; z-index: 2147483000; display: inline-flex; align-items: center; gap: 8px;
  min-height: 48px; padding: 0 20px; border: 0; border-radius: 24px; background: var(--sb-primary); color: var(--sb-on-primary);
  font-size: 15px; font-weight: 600; box-shadow: 0 6px 18px rgba(16,24,40,.25); }
.badge { min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px; background: #b42318; color: #fff; font-size: 12px; line-height: 20px; text-align: center; }
.panel { position: fixed; bottom: 84px; ${side}: 20px; z-index: 2147483000; width: 380px; height: 600px;
  max-width: calc(100vw - 32px); max-height: calc(100vh - 108px); display: flex; flex-direction: column;
  background: #fff; border-radius: 14px; overflow: hidden; box-shadow: 0 12px 40px rgba(16,24,40,.3); }
header { display: flex; align-items: flex-start; gap: 8px; padding: 14px 12px 12px 16px; background: var(--sb-primary); color: var(--sb-on-primary); }
header .titles { flex: 1; min-width: 0; }
h2 { margin: 0; font-size: 16px; font-weight: 700; }
header p { margin: 2px 0 0; font-size: 12.5px; opacity: .92; }
.head-btn { display: inline-flex; align-items: center; justify-content: center; min-height: 32px; min-width: 32px; padding: 0 10px;
  background: transparent; color: inherit; border: 1px solid currentColor; border-radius: 8px; font-size: 12.5px; font-weight: 600; }
.head-btn.icon { padding: 0; border-color: transparent; }
.status { padding: 3px 16px; font-size: 11px; color: #475467; background: #f2f4f7; border-bottom: 1px solid #e4e7ec; }
.status:empty { display: none; }
.away { margin: 0; padding: 10px 16px; border-bottom: 1px solid #fedf89; background: #fffaeb; color: #4e3d00; font-size: 13px; }
.away p { margin: 0; }
.away .away-next { margin-top: 4px; font-size: 12.5px; color: #5b4a0a; }
.scroll { flex: 1; overflow-y: auto; overscroll-behavior: contain; padding: 12px 14px; display: flex; flex-direction: column; gap: 10px; }
.scroll.following { overflow-anchor: none; }
.log { display: flex; flex-direction: column; gap: 6px; }
.msg { max-width: 82%; align-self: flex-start; padding: 8px 11px; border-radius: 14px 14px 14px 4px; background: #eef1f6; color: #1d2330; overflow-wrap: anywhere; }
.msg[data-author-role=customer] { align-self: flex-end; border-radius: 14px 14px 4px 14px; background: var(--sb-primary); color: var(--sb-on-primary); }
.msg[data-author-role=system] { align-self: center; max-width: 92%; padding: 2px 8px; background: transparent; color: #475467; font-size: 12.5px; text-align: center; }
.msg[data-pending=true] { opacity: .75; }
.msg[data-failed=true] { box-shadow: 0 0 0 2px #b42318; }
.author { display: flex; align-items: center; gap: 6px; font-size: 12px; font-weight: 700; color: #344054; margin-bottom: 3px; }
.avatar { width: 24px; height: 24px; flex: none; border-radius: 50%; object-fit: cover; background: #fff; }
.avatar.initials { display: inline-flex; align-items: center; justify-content: center; background: #475467; color: #fff; font-size: 10.5px; font-weight: 700; }
.avatar.initials::before { content: attr(data-initials); }
header .agent-line { display: flex; align-items: center; gap: 6px; margin-top: 6px; opacity: 1; font-weight: 600; }
header .agent-line .avatar { box-shadow: 0 0 0 2px var(--sb-on-primary); }
.text { white-space: pre-wrap; }
.meta { margin-top: 3px; font-size: 11px; opacity: .9; text-align: right; }
.msg[data-author-role=agent] .meta { text-align: left; color: #475467; opacity: 1; }
.media { margin-top: 4px; font-size: 12.5px; }
.attachment { display: flex; align-items: center; gap: 4px; }
.attachment svg { width: 16px; height: 16px; }
.media img { display: block; max-width: 100%; max-height: 240px; border-radius: 8px; }
.media a { display: block; border-radius: 8px; }
.file { display: inline-flex; align-items: center; gap: 6px; max-width: 100%; margin-top: 4px; padding: 6px 10px; border-radius: 8px;
  border: 1px solid #d0d5dd; background: #fff; color: #1d2330; text-align: left; }
.file span { overflow-wrap: anywhere; }
.file .size { color: #475467; font-size: 11.5px; white-space: nowrap; }
.earlier, .secondary { align-self: center; padding: 6px 12px; border-radius: 8px; border: 1px solid #98a2b3; background: #fff; color: #1d2330; font-size: 13px; }
.primary { padding: 10px 16px; border: 0; border-radius: 8px; background: var(--sb-primary); color: var(--sb-on-primary); font-weight: 600; }
.new-chat { align-self: center; }
form.pre { display: flex; flex-direction: column; gap: 12px; }
form.pre label { display: flex; flex-direction: column; gap: 4px; font-size: 13px; font-weight: 600; color: #344054; }
.req { color: #b42318; }
input, textarea, select { width: 100%; padding: 9px 10px; border: 1px solid #98a2b3; border-radius: 8px; background: #fff; color: #1d2330; font-weight: 400; }
form.rating { display: flex; flex-direction: column; gap: 10px; padding: 12px; border: 1px solid #d0d5dd; border-radius: 12px; background: #f9fafb; }
form.rating fieldset { border: 0; margin: 0; padding: 0; min-width: 0; }
form.rating legend { padding: 0; margin-bottom: 6px; font-weight: 700; color: #1d2330; }
.stars { display: flex; gap: 4px; }
.stars label { display: inline-flex; flex-direction: column; align-items: center; min-width: 44px; min-height: 44px; padding: 2px 4px;
  border-radius: 8px; cursor: pointer; color: #667085; font-size: 11.5px; font-weight: 600; }
.stars .star { font-size: 28px; line-height: 1; color: #d0d5dd; }
.stars label.on .star { color: #dc6803; }
.stars input:focus-visible + label { outline: 3px solid #f79009; outline-offset: 2px; }
.rating-caption { margin: 0; min-height: 1.2em; font-size: 12.5px; color: #344054; }
form.rating .comment { display: flex; flex-direction: column; gap: 4px; font-size: 13px; font-weight: 600; color: #344054; }
form.rating textarea { min-height: 56px; resize: vertical; }
.rating-actions { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.rating-actions .secondary { align-self: auto; }
.rating-error { margin: 0; color: #b42318; font-size: 13px; }
.rating-error:empty { display: none; }
.thanks { align-self: center; margin: 0; padding: 6px 12px; border-radius: 8px; background: #ecfdf3; color: #05603a; font-size: 13px; font-weight: 600; }
.typing { padding: 0 16px 6px; font-size: 12px; font-style: italic; color: #475467; }
.typing:empty { height: 0; padding: 0; }
.error-row { display: flex; gap: 8px; align-items: flex-start; margin: 0 12px 8px; padding: 8px 10px; border-radius: 8px;
  border: 1px solid #fecdca; background: #fef3f2; color: #b42318; font-size: 13px; }
.error-row p { flex: 1; margin: 0; overflow-wrap: anywhere; }
.error-row button { border: 0; background: transparent; color: inherit; font-size: 16px; line-height: 1; padding: 0 4px; }
.confirm { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 10px 12px; border-top: 1px solid #fedf89; background: #fffaeb; font-size: 13px; }
.confirm span { flex: 1; min-width: 8em; }
.confirm .primary { padding: 6px 12px; }
.composer { display: flex; align-items: flex-end; gap: 6px; padding: 10px; border-top: 1px solid #e4e7ec; background: #fff; }
.composer textarea { flex: 1; min-height: 40px; max-height: 120px; resize: none; border-radius: 10px; padding: 9px 11px; }
.icon-btn { display: inline-flex; align-items: center; justify-content: center; width: 40px; height: 40px; flex: none; border-radius: 10px; }
.attach { border: 1px solid #d0d5dd; background: #fff; color: #344054; }
.send { border: 0; background: var(--sb-primary); color: var(--sb-on-primary); }
@media (max-width: 480px) {
  .panel { inset: 0; width: auto; height: auto; max-width: none; max-height: none; border-radius: 0; }
  .sb.is-open .launcher { display: none; }
}
@keyframes sb-in { from { opacity: 0; transform: translateY(8px); } }
@media (prefers-reduced-motion: no-preference) {
  .panel:not([hidden]) { animation: sb-in .16s ease-out; }
  .sb.restored .panel { animation: none; }
  .launcher { transition: transform .12s ease; }
  .launcher:hover { transform: translateY(-1px); }
}
`;
  }

  // --- local storage (may be unavailable: sandboxed frames, some private modes) ----------------

  function tryStorage(action, fallback = null) {
    try {
      return action();
    } catch (err) {
      return fallback; // without storage the chat still works for this page's life
    }
  }
  const storage = {
    get: (key) => tryStorage(() => JSON.parse(localStorage.getItem(key) || "null")),
    set: (key, value) => tryStorage(() => localStorage.setItem(key, JSON.stringify(value))),
    remove: (key) => tryStorage(() => localStorage.removeItem(key)),
  };

  // --- the widget -----------------------------------------------------------------------------

  class Webchat {
    constructor(options) {
      this.o = normalise(options);
      this.session = null; // {channel_sid, identity, token, expires_at, ttl, ended}
      this.link = null; // the session's ResumableSocket
      this.renewal = null; // the session's TokenRenewal
      this.isReady = false; // the socket answered `ready`
      this.pending = new Map(); // key -> {key, fields, node}: own messages not confirmed yet
      this.blobs = new Set(); // object URLs to revoke when the conversation is cleared
      // How the customer left the widget (open, draft, where they were reading): a reload brings it back.
      this.viewKey = this.o.storageKey + ":view";
      this.view = { open: this.o.open, draft: "", reading: null, ...storage.get(this.viewKey) };
      this.atBottom = true; // following the newest message; false once the customer scrolls up to read
      this.autoScrollTop = null; // where the widget last scrolled to on its own
      this.resetState();
      this.build();
      this.listen();
      this.mount();
      this.closed = false; // outside business hours (checkHours)
      this.checkHours();
      this.session = this.loadSession();
      if (this.session) this.resume();
      else this.showForm();
      if (this.session && this.view.draft) this.setDraft(this.view.draft);
      if (this.view.open) {
        this.wrapper.classList.add("restored"); // open as it was left, not opening again
        this.open(false);
      }
    }

    resetState() {
      this.messages = new Map(); // index -> node
      this.sids = new Set();
      this.provisional = new Set(); // indexes known from a send result whose event has not come
      this.read = {}; // other members' read horizons
      this.readHorizon = -1;
      this.maxIndex = -1;
      this.othersIndex = -1; // highest index of a message from someone else
      this.markedIndex = -1; // highest index sent with mark_read
      this.unread = 0;
      this.historyLoaded = false;
      this.ended = false;
      this.ratingForm = null;
      if (this.ratingArea) this.ratingArea.replaceChildren();
      this.typingFrom = null;
      this.lastTypingSent = 0;
    }

    // --- layout ---

    build() {
      const o = this.o;
      this.host = h("div", { id: "switchboard-webchat" });
      this.root = this.host.attachShadow({ mode: "open" });
      this.badge = h("span", { class: "badge", "aria-hidden": "true", hidden: true });
      this.badgeText = h("span", { class: "sr-only" });
      this.launcher = h(
        "button",
        {
          type: "button", class: "launcher", "data-testid": "webchat-launcher",
          "aria-expanded": "false", "aria-controls": "sb-panel", onclick: () => this.toggle(),
        },
        icon("chat"), h("span", { text: o.launcherLabel }), this.badge, this.badgeText,
      );
      this.panel = h(
        "section",
        {
          class: "panel", id: "sb-panel", role: "dialog", "aria-label": o.title, "data-testid": "webchat-panel",
          hidden: true, onkeydown: (e) => this.onPanelKey(e),
        },
        this.buildHeader(), this.buildBody(), this.buildFooter(),
      );
      this.wrapper = h("div", { class: "sb" }, this.launcher, this.panel);
      this.root.append(...stylesheet(this.root, css(o)), this.wrapper);
    }

    buildHeader() {
      const o = this.o;
      this.endButton = h("button", {
        type: "button", class: "head-btn", "data-testid": "webchat-end", text: o.endLabel, hidden: true,
        onclick: () => this.askEnd(),
      });
      this.minimiseButton = h(
        "button",
        { type: "button", class: "head-btn icon", "aria-label": "Minimise chat", title: "Minimise", onclick: () => this.close() },
        icon("minimise"),
      );
      // Who the customer is talking to: the agent's display name and picture (showAgent).
      this.agentLine = h("p", { class: "agent-line", "data-testid": "webchat-agent", hidden: true });
      const titles = h("div", { class: "titles" }, h("h2", { text: o.title }), o.subtitle ? h("p", { text: o.subtitle }) : null, this.agentLine);
      this.statusLine = h("div", { class: "status", "data-testid": "webchat-status", role: "status" });
      // Outside business hours: the away message and when the business opens again.
      this.awayText = h("p", { "data-testid": "webchat-away-message" });
      this.awayNext = h("p", { class: "away-next", "data-testid": "webchat-away-next" });
      this.away = h("div", { class: "away", "data-testid": "webchat-away", role: "status", hidden: true }, this.awayText, this.awayNext);
      return h("div", {}, h("header", {}, titles, this.endButton, this.minimiseButton), this.statusLine, this.away);
    }

    buildBody() {
      this.earlierButton = h("button", {
        type: "button", class: "earlier", "data-testid": "webchat-load-earlier", text: "Load earlier messages", hidden: true,
        onclick: () => this.loadHistory(this.smallestIndex()),
      });
      this.greeting = this.o.greeting ? this.systemNode(this.o.greeting) : null;
      this.log = h("div", { class: "log", "data-testid": "webchat-messages", role: "log", "aria-live": "polite", "aria-label": "Messages" }, this.greeting);
      this.formArea = h("div", {});
      this.newChatButton = h("button", {
        type: "button", class: "primary new-chat", "data-testid": "webchat-new-chat", text: "Start a new chat", hidden: true,
        onclick: () => this.newChat(),
      });
      this.ratingArea = h("div", { "data-testid": "webchat-rating-area" });
      this.scroller = h(
        "div",
        { class: "scroll following" },
        this.earlierButton, this.log, this.formArea, this.ratingArea, this.newChatButton,
      );
      return this.scroller;
    }

    buildFooter() {
      const o = this.o;
      this.typing = h("div", { class: "typing", "data-testid": "webchat-typing", "aria-live": "polite" });
      this.error = h("p", { "data-testid": "webchat-error" });
      this.errorRow = h(
        "div",
        { class: "error-row", role: "alert", hidden: true },
        this.error,
        h("button", { type: "button", "aria-label": "Dismiss the error", text: "×", onclick: () => this.showError("") }),
      );
      this.confirmBar = h("div", { class: "confirm", hidden: true });
      this.input = h("textarea", {
        id: "sb-input", rows: "1", maxlength: String(MAX_BODY), placeholder: o.inputPlaceholder, "data-testid": "webchat-input",
        onkeydown: (e) => this.onInputKey(e), oninput: () => this.onInput(),
      });
      this.fileInput = h("input", {
        type: "file", accept: o.accept, hidden: true, tabindex: "-1", "data-testid": "webchat-file",
        onchange: () => this.onFilePicked(),
      });
      const attach = h(
        "button",
        { type: "button", class: "icon-btn attach", "aria-label": "Attach a file", title: "Attach a file", "data-testid": "webchat-attach", onclick: () => this.fileInput.click() },
        icon("clip"),
      );
      const send = h(
        "button",
        { type: "button", class: "icon-btn send", "aria-label": "Send", title: "Send", "data-testid": "webchat-send", onclick: () => this.sendText() },
        icon("send"),
      );
      this.composer = h(
        "div",
        { class: "composer", hidden: true },
        this.fileInput, attach, h("label", { for: "sb-input", class: "sr-only", text: "Message" }), this.input, send,
      );
      return h("div", {}, this.typing, this.errorRow, this.confirmBar, this.composer);
    }

    listen() {
      document.addEventListener("visibilitychange", () => this.markRead());
      this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
      // A scroll the page leaves before its event ran (a reload right after it) is still where the
      // customer was reading: note the view as the page goes.
      window.addEventListener("pagehide", () => this.onScroll());
      // Whatever grows the log after its message was placed (an image shown once loaded, a
      // notice) or shrinks the view keeps a log that was followed at its newest message.
      const growth = new ResizeObserver(() => this.atBottom && !this.panel.hidden && this.scrollToBottom());
      growth.observe(this.log);
      growth.observe(this.scroller);
      // Back online: do not wait for the rest of the backoff.
      window.addEventListener("online", () => {
        if (this.link && !this.ended) this.link.connect();
      });
    }

    mount() {
      const attach = () => document.body.append(this.host);
      if (document.body) attach();
      else document.addEventListener("DOMContentLoaded", attach, { once: true });
    }

    // --- open / close ---

    open(moveFocus = true) {
      if (this.panel.hidden) this.checkHours(); // the hours may have changed since the page loaded
      this.panel.hidden = false;
      this.wrapper.classList.add("is-open");
      this.launcher.setAttribute("aria-expanded", "true");
      this.setUnread(0);
      if (moveFocus) this.focusPanel();
      if (this.input.value) this.fitInput();
      this.restoreScroll();
      this.markRead();
      this.saveView({ open: true });
    }

    close() {
      const hadFocus = this.panel.contains(this.root.activeElement);
      this.panel.hidden = true;
      this.wrapper.classList.remove("is-open", "restored");
      this.launcher.setAttribute("aria-expanded", "false");
      if (hadFocus) this.launcher.focus();
      this.saveView({ open: false });
    }

    toggle() {
      if (this.panel.hidden) this.open();
      else this.close();
    }

    focusPanel() {
      const field = this.formArea.querySelector("input, textarea, select, button");
      const target = [field, this.composer.hidden ? null : this.input, this.newChatButton.hidden ? null : this.newChatButton]
        .find(Boolean) || this.minimiseButton;
      target.focus();
    }

    onPanelKey(event) {
      if (event.key !== "Escape") return;
      event.preventDefault();
      if (!this.confirmBar.hidden) this.cancelEnd();
      else this.close();
    }

    setUnread(count) {
      this.unread = count;
      this.badge.hidden = count === 0;
      this.badge.textContent = String(count);
      this.badgeText.textContent = count ? ` (${count} new ${count === 1 ? "message" : "messages"})` : "";
    }

    // --- small UI pieces ---

    setStatus(text) {
      this.statusLine.textContent = text;
    }

    showError(text) {
      this.error.textContent = text || "";
      this.errorRow.hidden = !text;
    }

    systemNode(text) {
      return h(
        "div",
        { class: "msg", "data-testid": "webchat-message", "data-author-role": "system" },
        h("div", { "data-testid": "message-body", text }),
      );
    }

    notice(text) {
      this.log.append(this.systemNode(text));
      if (this.nearBottom()) this.scrollToBottom();
    }

    /** Whether the customer follows the newest message (they were at the bottom when they last scrolled). */
    nearBottom() {
      return this.atBottom;
    }

    /**
     * A followed log turns the browser's scroll anchoring off: it would move the view with whatever
     * grows above it, off the bottom; a reader's view keeps it, and stays put.
     */
    follow(atBottom) {
      this.atBottom = atBottom;
      this.scroller.classList.toggle("following", atBottom);
    }

    scrollToBottom() {
      this.follow(true);
      this.scroller.scrollTop = this.scroller.scrollHeight;
      this.autoScrollTop = this.scroller.scrollTop;
    }

    /**
     * A scroll the widget made itself (the view has not moved since, however the log grew) leaves
     * the log followed; any other scroll decides by where it ends: near the bottom, or reading
     * (remembered once the history is in, so a reload comes back to it).
     */
    onScroll() {
      if (this.panel.hidden) return;
      const s = this.scroller;
      if (s.scrollTop !== this.autoScrollTop) {
        this.autoScrollTop = null;
        this.follow(s.scrollHeight - s.scrollTop - s.clientHeight < 80);
      }
      if (!this.historyLoaded) return;
      const reading = this.atBottom ? null : this.firstShownIndex();
      if (reading !== this.view.reading) this.saveView({ reading });
    }

    /** The index of the topmost message in view. */
    firstShownIndex() {
      const top = this.scroller.getBoundingClientRect().top;
      let first = null;
      for (const [index, node] of this.messages) {
        if ((first === null || index < first) && node.isConnected && node.getBoundingClientRect().bottom > top) first = index;
      }
      return first;
    }

    /** Back to where the customer was: the message they were reading at the top, or the newest. */
    restoreScroll() {
      const node = this.view.reading !== null ? this.messages.get(this.view.reading) : null;
      if (!node || !node.isConnected) return this.scrollToBottom();
      const s = this.scroller;
      s.scrollTop += node.getBoundingClientRect().top - s.getBoundingClientRect().top - 12;
      this.autoScrollTop = s.scrollTop;
      this.follow(s.scrollHeight - s.scrollTop - s.clientHeight < 80);
    }

    saveView(changes) {
      Object.assign(this.view, changes);
      storage.set(this.viewKey, this.view);
    }

    /** Empties the conversation (keeps the greeting) and frees what it held. */
    clearLog() {
      this.log.replaceChildren(...(this.greeting ? [this.greeting] : []));
      for (const url of this.blobs) URL.revokeObjectURL(url);
      this.blobs.clear();
      this.pending.clear();
      this.earlierButton.hidden = true;
      this.newChatButton.hidden = true;
      this.confirmBar.hidden = true;
      this.hideTyping();
    }

    // --- business hours ---

    /**
     * Asks whether the business is open. Outside its hours the widget shows the away message and
     * when it opens next (in the customer's time), and takes a message for later; inside, nothing
     * changes. A failed check changes nothing either: the chat works as when open.
     */
    async checkHours() {
      let hours;
      try {
        const query = "?flex_flow_sid=" + encodeURIComponent(this.o.flexFlowSid);
        const response = await fetch(this.o.apiBase + "/v1/Webchat/BusinessHours" + query);
        if (!response.ok) return;
        hours = await response.json();
      } catch (err) {
        return;
      }
      this.closed = hours.open === false;
      this.away.hidden = !this.closed;
      if (this.closed) {
        this.awayText.textContent = hours.away_message || "We are closed right now.";
        this.awayNext.textContent = hours.next_open
          ? `We open again ${localWhen(hours.next_open)} (your time). Leave a message and we will answer then.`
          : "Leave a message and we will answer when we are back.";
      }
      const start = this.formArea.querySelector("[data-testid=webchat-start]");
      if (start) start.textContent = this.startLabel();
      this.input.placeholder = this.closed ? "Leave a message" : this.o.inputPlaceholder;
    }

    startLabel() {
      return this.closed ? "Leave a message" : this.o.startLabel;
    }

    // --- pre-engagement form ---

    showForm(notice) {
      this.clearLog();
      this.composer.hidden = true;
      this.endButton.hidden = true;
      this.setStatus("");
      if (notice) this.notice(notice);
      const fields = this.o.preEngagement;
      if (!fields.length) {
        // No form: one button opens the session.
        this.formArea.replaceChildren(
          h("button", { type: "button", class: "primary", "data-testid": "webchat-start", text: this.startLabel(), onclick: (e) => this.startSession({}, e.currentTarget) }),
        );
      } else {
        this.formArea.replaceChildren(this.buildForm(fields));
      }
      if (!this.panel.hidden) this.focusPanel();
    }

    buildForm(fields) {
      const form = h("form", { class: "pre", "data-testid": "webchat-pre-engagement" });
      fields.forEach((field, i) => {
        const id = "sb-field-" + i;
        const common = { id, name: field.name, required: !!field.required, oninput: (e) => e.target.setCustomValidity("") };
        let input;
        if (field.type === "textarea") input = h("textarea", { ...common, rows: "3", maxlength: String(MAX_BODY) });
        else if (field.type === "select") {
          input = h("select", common, h("option", { value: "", text: "Choose…" }));
          for (const option of Array.isArray(field.options) ? field.options : []) {
            const [value, label] = typeof option === "object" && option ? [option.value, option.label ?? option.value] : [option, option];
            input.append(h("option", { value: String(value), text: String(label) }));
          }
        } else {
          const autocomplete = { friendly_name: "name", email: "email" }[field.name] || (field.type === "tel" ? "tel" : undefined);
          input = h("input", { ...common, type: field.type, autocomplete });
        }
        const required = field.required ? h("span", { class: "req", "aria-hidden": "true", text: " *" }) : null;
        form.append(h("label", { for: id }, h("span", {}, field.label, required), input));
      });
      const start = h("button", { type: "submit", class: "primary", "data-testid": "webchat-start", text: this.startLabel() });
      form.append(start);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const values = this.readForm(form, fields);
        if (values) this.startSession(values, start);
      });
      return form;
    }

    /** The form's values, trimmed; null (with the browser's message shown) when one is missing. */
    readForm(form, fields) {
      const values = {};
      for (const field of fields) {
        const input = form.elements.namedItem(field.name);
        const value = String(input.value || "").trim();
        if (field.required && !value) {
          input.setCustomValidity("Please fill in this field.");
          input.reportValidity();
          return null;
        }
        if (value) values[field.name] = value;
      }
      return values;
    }

    async startSession(values, button) {
      const { friendly_name: friendlyName, ...data } = values;
      const body = { flex_flow_sid: this.o.flexFlowSid, pre_engagement_data: data };
      if (friendlyName) body.friendly_name = friendlyName;
      this.showError("");
      button.disabled = true;
      let answer;
      try {
        const response = await fetch(this.o.apiBase + "/v1/Webchat/Sessions", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        if (!response.ok) throw new Error(await errorText(response));
        answer = await response.json();
      } catch (err) {
        button.disabled = false;
        this.showError("The chat could not start: " + (err instanceof TypeError ? "the server could not be reached." : err.message));
        return;
      }
      this.session = { channel_sid: answer.channel_sid, identity: answer.identity, token: answer.token, expires_at: answer.expires_at, ttl: answer.ttl };
      this.saveSession();
      this.formArea.replaceChildren();
      this.resume();
      // The question from the form is the customer's first message: it starts the flow.
      if (data.question) this.sendBody(data.question);
    }

    // --- session storage and token refresh ---

    loadSession() {
      const stored = storage.get(this.o.storageKey);
      if (stored && stored.token && stored.channel_sid && Date.parse(stored.expires_at) > Date.now() + 5000) return stored;
      storage.remove(this.o.storageKey);
      return null;
    }

    saveSession() {
      if (this.session) storage.set(this.o.storageKey, this.session);
    }

    /** Shows the chat for the current session and connects (a new one, or one found on load). */
    resume() {
      this.formArea.replaceChildren();
      this.composer.hidden = false;
      this.endButton.hidden = false;
      if (this.session.ended) this.finish(this.session.ended);
      this.renewal = new TokenRenewal(this.session, {
        url: this.o.apiBase + "/v1/Tokens/Refresh",
        refused: (status) => status === 401,
        onRefused: () => this.dropSession(EXPIRED),
        onRenewed: (session) => {
          this.saveSession();
          // The open socket carries on past the old token's expiry; a closed one reconnects with this one.
          this.link.renew(session.token);
        },
      });
      this.renewal.schedule();
      this.link = this.newLink();
      this.link.connect();
      if (!this.panel.hidden) this.focusPanel();
    }

    /** Forgets the session (socket, timers, storage) and shows the form again. */
    dropSession(notice) {
      if (this.renewal) this.renewal.stop();
      if (this.link) this.link.close();
      this.renewal = null;
      this.link = null;
      this.isReady = false;
      this.session = null;
      storage.remove(this.o.storageKey);
      this.resetState();
      this.agentLine.hidden = true;
      this.setDraft("");
      this.saveView({ reading: null });
      this.showError("");
      this.showForm(notice);
    }

    newChat() {
      this.dropSession();
    }

    // --- the socket ---

    newLink() {
      return new ResumableSocket({
        url: (resume) => this.o.apiBase.replace(/^http/, "ws") + "/v1/customer/ws" + resume,
        protocol: PROTOCOL,
        token: () => this.session.token,
        idPrefix: "w",
        onConnecting: (reconnecting) => this.setStatus(reconnecting ? "Reconnecting…" : "Connecting…"),
        onConnectFailed: (err) => this.showError("The chat could not connect: " + err.message),
        onReady: (frame) => this.onReady(frame),
        onEvent: (frame) => this.onEvent(frame.event, frame.data || {}, frame.date),
        onStrayError: (frame) => this.showError(frame.message),
        onClosed: (event, usedToken) => this.onClose(event, usedToken),
      });
    }

    /** What follows a dropped socket: "stop", "now" or nothing (back off; see ResumableSocket). */
    onClose(event, usedToken) {
      this.isReady = false;
      if (event.code === 4401 || event.code === 4403) {
        // A token refreshed since this socket opened may still be good: try it once.
        const fresher = this.session.token !== usedToken && Date.parse(this.session.expires_at) > Date.now();
        if (event.code === 4401 && fresher) return "now";
        this.dropSession(event.code === 4401 ? EXPIRED : "This chat is no longer available. Start a new chat any time.");
        return "stop";
      }
      if (this.ended) {
        this.setStatus("");
        return "stop";
      }
      this.setStatus("Reconnecting…");
      return undefined;
    }

    /** Sends a command; resolves with the result's data, rejects with a CommandError (lost: not sent or no answer). */
    command(name, fields = {}) {
      return this.link ? this.link.command(name, fields) : Promise.reject(new CommandError(0, "not connected", { lost: true }));
    }

    onReady(frame) {
      this.isReady = true;
      if (frame.identity) this.session.identity = frame.identity;
      this.read = {};
      for (const [identity, index] of Object.entries(frame.read || {})) this.noteRead(identity, index);
      this.setStatus("Connected");
      // Messages written while offline go now; a resent one is stored once (the server dedupes by key).
      for (const entry of this.pending.values()) this.transmit(entry);
      if (!this.historyLoaded) this.loadHistory();
      if (frame.channel && ["INACTIVE", "CLOSED"].includes(frame.channel.status)) this.finish("This chat was closed.");
      this.markRead();
    }

    onEvent(name, data, date) {
      switch (name) {
        case "message":
          return this.showMessage(data, data.date_created || date, true);
        case "typing":
          return this.showTyping(data.identity);
        case "read":
          return this.noteRead(data.identity, data.index);
        case "member.joined":
          if (data.identity && data.identity !== this.session.identity) {
            this.notice(data.identity + " joined the chat.");
            this.showAgent(data.identity, data.avatar_url);
          }
          return;
        case "agent.left":
          return this.agentLeft(data);
        case "chat.ended":
          return this.finish({ agent: "The agent ended the chat.", customer: "You ended the chat." }[data.by] || "This chat was closed.");
        case "channel.status":
          if (data.status === "INACTIVE" || data.status === "CLOSED") this.finish("This chat was closed.");
          return;
        default:
          return; // events this version does not know are ignored
      }
    }

    // --- history ---

    smallestIndex() {
      return this.messages.size ? Math.min(...this.messages.keys()) : undefined;
    }

    /** A page of history: the latest one after connecting, or the one before `beforeIndex`. */
    async loadHistory(beforeIndex) {
      const earlier = beforeIndex !== undefined;
      const fields = earlier ? { limit: HISTORY_PAGE, before_index: beforeIndex } : { limit: HISTORY_PAGE };
      this.earlierButton.disabled = true;
      try {
        const page = await this.command("history", fields);
        // Earlier messages go above: keep what the customer is looking at in place.
        const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
        for (const m of page.messages || []) this.showMessage(m, m.date_created, false);
        this.earlierButton.hidden = !page.has_more;
        if (earlier) this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
        else this.restoreScroll();
        this.historyLoaded = true;
        this.markRead();
      } catch (err) {
        if (!err.lost) this.showError("The earlier messages could not be loaded: " + err.message);
      } finally {
        this.earlierButton.disabled = false;
      }
    }

    // --- messages ---

    isMine(data) {
      return !!this.session && data.from === this.session.identity;
    }

    /** Shows a message from an event or a history page, once: a pending bubble with its key is replaced. */
    showMessage(data, date, live) {
      if (typeof data.index !== "number") return;
      const existing = this.messages.get(data.index);
      if ((existing && !this.provisional.has(data.index)) || (data.sid && this.sids.has(data.sid) && !existing)) return;
      const stick = this.nearBottom();
      const node = this.messageNode(data, date);
      const waiting = data.key ? this.pending.get(data.key) : null;
      if (existing) existing.replaceWith(node);
      else if (waiting) waiting.node.replaceWith(node);
      else this.place(node, data.index, live);
      if (waiting) this.pending.delete(data.key);
      this.provisional.delete(data.index);
      this.messages.set(data.index, node);
      if (data.sid) this.sids.add(data.sid);
      this.maxIndex = Math.max(this.maxIndex, data.index);
      const mine = this.isMine(data);
      if (!mine) {
        this.othersIndex = Math.max(this.othersIndex, data.index);
        if (data.from === this.typingFrom) this.hideTyping();
        if (live && (this.panel.hidden || document.visibilityState !== "visible")) this.setUnread(this.unread + 1);
      }
      // The customer's own message just sent follows them down; one that only arrives now (stored
      // after a reload's history page was read) leaves them where they are reading.
      if (live && (stick || (mine && waiting))) this.scrollToBottom();
      if (live) this.markRead(); // a history page marks once, when shown
    }

    /** Keeps the list in index order; live messages go last (before pending bubbles), history above them. */
    place(node, index, live) {
      const indexed = [...this.log.querySelectorAll(":scope > [data-index]")];
      const after = indexed.find((n) => Number(n.dataset.index) > index);
      if (after) return this.log.insertBefore(node, after);
      if (live) return this.log.insertBefore(node, this.log.querySelector(":scope > [data-pending=true]"));
      const anchor = indexed.length ? indexed[indexed.length - 1] : this.greeting;
      if (anchor && anchor.parentNode === this.log) anchor.after(node);
      else this.log.prepend(node);
    }

    messageNode(data, date) {
      const mine = this.isMine(data);
      const node = h("div", {
        class: "msg", "data-testid": "webchat-message", "data-author-role": mine ? "customer" : "agent", "data-index": data.index,
      });
      if (!mine) {
        const name = data.from || "Agent";
        node.append(h("div", { class: "author" }, avatar(name, data.avatar_url), h("span", { "data-testid": "message-author", text: name })));
        this.showAgent(name, data.avatar_url);
      }
      if (data.body) node.append(h("div", { class: "text", "data-testid": "message-body", text: data.body }));
      for (const media of data.media || []) node.append(this.mediaNode(media));
      node.append(this.metaNode(date, mine ? this.receipt(data.index) : null));
      return node;
    }

    metaNode(date, status) {
      const time = clock(date);
      return h(
        "div",
        { class: "meta" },
        time ? h("time", { datetime: date || new Date().toISOString(), text: time }) : null,
        time && status ? " · " : null,
        status ? h("span", { "data-testid": "message-status", text: status }) : null,
      );
    }

    receipt(index) {
      return index <= this.readHorizon ? "Read" : "Sent";
    }

    noteRead(identity, index) {
      if (!identity || identity === (this.session && this.session.identity) || typeof index !== "number") return;
      this.read[identity] = Math.max(this.read[identity] ?? -1, index);
      this.readHorizon = Math.max(-1, ...Object.values(this.read));
      for (const [i, node] of this.messages) {
        const status = node.querySelector("[data-testid=message-status]");
        if (status && node.dataset.authorRole === "customer") status.textContent = this.receipt(i);
      }
    }

    /** Tells the server how far the customer has read, when they can actually see the chat. */
    markRead() {
      if (!this.isReady || this.panel.hidden || document.visibilityState !== "visible") return;
      if (this.othersIndex <= this.markedIndex) return;
      const previous = this.markedIndex;
      this.markedIndex = this.maxIndex;
      this.setUnread(0);
      this.command("mark_read", { index: this.maxIndex }).catch(() => {
        this.markedIndex = previous; // retried after the next `ready`
      });
    }

    // --- sending ---

    onInputKey(event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendText();
      }
    }

    onInput() {
      this.fitInput();
      this.saveView({ draft: this.input.value });
      const now = Date.now();
      if (this.input.value.trim() && this.isReady && now - this.lastTypingSent >= TYPING_EVERY_MS) {
        this.lastTypingSent = now;
        this.command("typing").catch(() => {});
      }
    }

    /** Grows the composer with the text, up to the CSS max-height. */
    fitInput() {
      this.input.style.height = "auto";
      this.input.style.height = this.input.scrollHeight + 2 + "px";
    }

    setDraft(text) {
      this.input.value = text;
      this.input.style.height = "";
      if (text && !this.panel.hidden) this.fitInput();
      this.saveView({ draft: text });
    }

    takeInput() {
      const body = this.input.value.trim();
      this.setDraft("");
      return body;
    }

    sendText() {
      if (!this.session || this.ended) return;
      const body = this.takeInput();
      if (body) this.sendBody(body);
      this.input.focus();
    }

    sendBody(body) {
      const entry = this.addPending(body, []);
      this.dispatch(entry, { body });
    }

    /** A bubble shown at once, replaced when the server has stored the message. */
    addPending(body, filenames) {
      const node = h("div", { class: "msg", "data-testid": "webchat-message", "data-author-role": "customer", "data-pending": "true" });
      if (body) node.append(h("div", { class: "text", "data-testid": "message-body", text: body }));
      for (const name of filenames) node.append(h("div", { class: "media attachment" }, icon("file"), h("span", { text: name })));
      node.append(this.metaNode(null, "Sending…"));
      this.log.append(node);
      this.scrollToBottom();
      const entry = { key: newKey(), fields: null, node };
      this.pending.set(entry.key, entry);
      return entry;
    }

    dispatch(entry, fields) {
      entry.fields = { ...fields, key: entry.key };
      this.transmit(entry);
    }

    transmit(entry) {
      if (!entry.fields || !this.isReady) return; // sent (again) after the next `ready`
      this.command("send_message", entry.fields).then(
        (data) => this.confirm(entry, data),
        (err) => err.lost || this.failPending(entry, err.message),
      );
    }

    /** The result came before the event: show the bubble as sent; the event fills it in later. */
    confirm(entry, data) {
      if (this.pending.get(entry.key) !== entry || typeof data.index !== "number") return;
      this.pending.delete(entry.key);
      if (this.messages.has(data.index)) return entry.node.remove(); // shown already (another path)
      const node = entry.node;
      node.removeAttribute("data-pending");
      node.dataset.index = data.index;
      const status = node.querySelector("[data-testid=message-status]");
      if (status) status.textContent = this.receipt(data.index);
      this.messages.set(data.index, node);
      this.provisional.add(data.index);
      this.maxIndex = Math.max(this.maxIndex, data.index);
    }

    failPending(entry, message) {
      if (this.pending.get(entry.key) !== entry) return;
      this.pending.delete(entry.key);
      entry.node.removeAttribute("data-pending");
      entry.node.dataset.failed = "true";
      const status = entry.node.querySelector("[data-testid=message-status]");
      if (status) status.textContent = "Not sent";
      this.showError(message);
    }

    // --- typing ---

    showTyping(identity) {
      if (!identity || identity === this.session.identity) return;
      this.typingFrom = identity;
      this.typing.textContent = identity + " is typing…";
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => this.hideTyping(), TYPING_SHOWN_MS);
    }

    hideTyping() {
      clearTimeout(this.typingTimer);
      this.typingFrom = null;
      this.typing.textContent = "";
    }

    // --- media ---

    /** Why a file may not be sent (null when it may): checked here first, the server checks again. */
    refusal(file) {
      const type = (file.type || "").toLowerCase();
      const extension = "." + (file.name.split(".").pop() || "").toLowerCase();
      const allowed = this.o.accepted.some((a) =>
        a.endsWith("/*") ? type.startsWith(a.slice(0, -1)) : a.startsWith(".") ? a === extension : a === type,
      );
      if (!allowed) return `${file.name} cannot be sent: files of type ${type || "unknown"} are not accepted.`;
      if (file.size > this.o.maxUploadBytes) {
        return `${file.name} is too large (${formatBytes(file.size)}); files up to ${formatBytes(this.o.maxUploadBytes)} can be sent.`;
      }
      if (!file.size) return `${file.name} is empty.`;
      return null;
    }

    onFilePicked() {
      const file = this.fileInput.files && this.fileInput.files[0];
      this.fileInput.value = ""; // picking the same file again fires change again
      if (file && this.session && !this.ended) this.upload(file);
    }

    async upload(file) {
      const refused = this.refusal(file);
      this.showError(refused || "");
      if (refused) return;
      const body = this.takeInput();
      const entry = this.addPending(body, [file.name]);
      const form = new FormData();
      form.append("channel_sid", this.session.channel_sid);
      form.append("file", file, file.name);
      try {
        const response = await fetch(this.o.apiBase + "/v1/Media", {
          method: "POST",
          headers: { Authorization: "Bearer " + this.session.token },
          body: form,
        });
        if (!response.ok) throw new Error(await errorText(response));
        const media = await response.json();
        this.dispatch(entry, body ? { body, media: [media.sid] } : { media: [media.sid] });
      } catch (err) {
        this.failPending(entry, `${file.name} could not be sent: ${err.message}`);
      }
    }

    mediaNode(media) {
      const name = media.filename || "attachment";
      if (/^image\//.test(media.content_type || "")) {
        const box = h("div", { class: "media" }, "Loading " + name + "…");
        this.fetchBlob(media.url)
          .then(async (url) => {
            const img = h("img", { alt: name, src: url });
            await img.decode().catch(() => {});
            // Shown once decoded; the link opens it full size.
            box.replaceChildren(h("a", { href: url, target: "_blank", rel: "noopener" }, img));
          })
          .catch(() => box.replaceChildren(name + " could not be loaded."));
        return box;
      }
      return h(
        "button",
        { type: "button", class: "file", title: "Download " + name, onclick: () => this.download(media.url, name) },
        icon("file"),
        h("span", { class: "sr-only", text: "Download " }),
        h("span", { text: name }),
        media.size ? h("span", { class: "size", text: formatBytes(media.size) }) : null,
      );
    }

    /** Media needs the bearer token, which an <img> or a link cannot send: fetch it, answer an object URL. */
    async fetchBlob(url) {
      const target = /^https?:/i.test(url) ? url : this.o.apiBase + (url.startsWith("/") ? "" : "/") + url;
      // The token goes only to the Switchboard server.
      const ours = new URL(target).origin === new URL(this.o.apiBase).origin;
      const response = await fetch(target, { headers: ours && this.session ? { Authorization: "Bearer " + this.session.token } : {} });
      if (!response.ok) throw new Error(await errorText(response));
      const objectUrl = URL.createObjectURL(await response.blob());
      this.blobs.add(objectUrl);
      return objectUrl;
    }

    async download(url, name) {
      try {
        const objectUrl = await this.fetchBlob(url);
        const link = h("a", { href: objectUrl, download: name, hidden: true });
        this.root.append(link);
        link.click();
        link.remove();
      } catch (err) {
        this.showError(`${name} could not be downloaded: ${err.message}`);
      }
    }

    // --- ending ---

    askEnd() {
      const confirm = h("button", { type: "button", class: "primary", "data-testid": "webchat-end-confirm", text: this.o.endLabel, onclick: () => this.confirmEnd() });
      this.confirmBar.replaceChildren(
        h("span", { text: "End this chat?" }),
        confirm,
        h("button", { type: "button", class: "secondary", text: "Keep chatting", onclick: () => this.cancelEnd() }),
      );
      this.confirmBar.hidden = false;
      confirm.focus();
    }

    cancelEnd() {
      this.confirmBar.hidden = true;
      (this.composer.hidden ? this.minimiseButton : this.input).focus();
    }

    confirmEnd() {
      this.confirmBar.hidden = true;
      this.endChat();
    }

    async endChat() {
      if (!this.session || this.ended) return;
      let taskSid = null;
      try {
        taskSid = (await this.command("end_chat")).task_sid || null;
      } catch (err) {
        // 409: it had ended already. Anything else: the chat goes on, say why.
        if (err.code !== 409) {
          this.showError("The chat could not be ended: " + (err.lost ? "not connected. Try again in a moment." : err.message));
          return;
        }
      }
      this.finish("You ended the chat.", taskSid);
    }

    /** The header names the agent the customer is talking to (the server sends its display name). */
    showAgent(name, url) {
      if (this.agentLine.dataset.name === name && this.agentLine.dataset.avatar === String(url || "") && !this.agentLine.hidden) return;
      this.agentLine.dataset.name = name;
      this.agentLine.dataset.avatar = String(url || "");
      this.agentLine.replaceChildren(avatar(name, url), h("span", { text: "You're chatting with " + name }));
      this.agentLine.hidden = false;
    }

    /** The agent finished its part: say so once per task. The chat stays open: the customer's
     * next message reaches the team again. */
    agentLeft(data) {
      if (this.ended) return; // the customer ended it: "You ended the chat." says enough
      this.agentsLeft = this.agentsLeft || new Set();
      if (data.task_sid && this.agentsLeft.has(data.task_sid)) return;
      this.agentsLeft.add(data.task_sid);
      this.hideTyping();
      const who = data.identity && data.identity !== this.session.identity ? data.identity : "The agent";
      this.agentLine.hidden = true;
      this.notice(who + " left the chat. Write again if you need anything else.");
      this.offerRating(data.task_sid || null);
    }

    /** The conversation is over: say so, and offer a new one. Remembered until a new chat starts. */
    finish(text, taskSid = null) {
      if (this.ended || !this.session) return;
      this.ended = true;
      this.session.ended = text;
      this.saveSession();
      this.hideTyping();
      this.confirmBar.hidden = true;
      this.composer.hidden = true;
      this.endButton.hidden = true;
      this.notice(text);
      this.newChatButton.hidden = false;
      this.offerRating(taskSid);
      // Focus stays where it is unless it was in the composer (or the end bar) that just went away.
      const active = this.root.activeElement;
      const lost = active ? this.panel.contains(active) && active.offsetParent === null : document.activeElement === document.body;
      if (!this.panel.hidden && lost) {
        (this.ratingForm ? this.ratingForm.querySelector("input") : this.newChatButton).focus();
      }
      this.scrollToBottom();
    }

    // --- the post-chat rating ---

    /** Offers the customer to rate the conversation that ended (``taskSid``, or the chat's latest):
     * once per conversation, answered or declined, remembered with the session. */
    offerRating(taskSid) {
      if (!this.o.postChatRating || !this.session || this.ratingForm) return;
      const done = this.session.rated || [];
      if (taskSid ? done.includes(taskSid) : done.length > 0) return;
      this.ratingForm = this.buildRating(taskSid);
      this.ratingArea.replaceChildren(this.ratingForm);
      if (this.nearBottom()) this.scrollToBottom();
    }

    buildRating(taskSid) {
      const group = "sb-rating-" + newKey();
      const caption = h("p", { class: "rating-caption", "aria-live": "polite", "data-testid": "webchat-rating-caption" });
      const problem = h("p", { class: "rating-error", role: "alert", "data-testid": "webchat-rating-error" });
      const labels = [];
      const choices = RATING_LABELS.map((meaning, i) => {
        const value = i + 1;
        const id = group + "-" + value;
        const input = h("input", {
          type: "radio", class: "sr-only", name: group, id, value: String(value), "data-testid": "webchat-rating-" + value,
          onchange: () => {
            labels.forEach((label, n) => label.classList.toggle("on", n < value));
            caption.textContent = value + " of 5: " + meaning;
            submit.disabled = false;
          },
        });
        const label = h(
          "label",
          { for: id, title: meaning, "data-testid": "webchat-rating-star-" + value },
          h("span", { class: "star", "aria-hidden": "true", text: "\u2605" }),
          h("span", { "aria-hidden": "true", text: String(value) }),
          h("span", { class: "sr-only", text: value + " of 5, " + meaning }),
        );
        labels.push(label);
        return [input, label];
      });
      const comment = h("textarea", { name: "comment", maxlength: String(RATING_COMMENT_MAX), rows: "2", "data-testid": "webchat-rating-comment" });
      const submit = h("button", { type: "submit", class: "primary", text: "Send rating", disabled: true, "data-testid": "webchat-rating-submit" });
      const skip = h("button", {
        type: "button", class: "secondary", text: "No thanks", "data-testid": "webchat-rating-skip",
        onclick: () => this.closeRating(taskSid, "No problem. Thanks for chatting with us."),
      });
      const form = h(
        "form",
        { class: "rating", "data-testid": "webchat-rating", "aria-label": "Rate this chat", novalidate: true },
        h(
          "fieldset",
          {},
          h("legend", { text: "How was this chat?" }),
          h("div", { class: "stars" }, ...choices.flat()),
        ),
        caption,
        h("label", { class: "comment" }, "Anything you would like to add? (optional)", comment),
        h("div", { class: "rating-actions" }, submit, skip),
        problem,
      );
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const picked = form.querySelector("input[type=radio]:checked");
        if (!picked) return;
        submit.disabled = true;
        problem.textContent = "";
        const fields = { rating: Number(picked.value) };
        if (comment.value.trim()) fields.comment = comment.value.trim();
        if (taskSid) fields.task_sid = taskSid;
        try {
          const result = await this.command("rate_chat", fields);
          this.closeRating(result.task_sid, "Thank you for your feedback!", taskSid);
        } catch (err) {
          submit.disabled = false;
          problem.textContent = "Your rating could not be sent: " + (err.lost ? "not connected. Try again in a moment." : err.message);
        }
      });
      return form;
    }

    /** The rating was sent or declined: remember it, thank the customer. */
    closeRating(taskSid, text, asked = null) {
      const hadFocus = this.ratingForm && this.ratingForm.contains(this.root.activeElement);
      const done = new Set(this.session ? this.session.rated || [] : []);
      for (const sid of [taskSid, asked]) if (sid) done.add(sid);
      if (!taskSid && !asked) done.add("latest");
      if (this.session) {
        this.session.rated = [...done];
        this.saveSession();
      }
      const thanks = h("p", { class: "thanks", role: "status", "data-testid": "webchat-rating-thanks", text });
      this.ratingArea.replaceChildren(thanks);
      this.ratingForm = null;
      if (hadFocus) (this.newChatButton.hidden ? this.input : this.newChatButton).focus();
    }
  }

  // --- public API and auto-start --------------------------------------------------------------

  const fromTag = optionsFromTag(SCRIPT);
  let widget = null;

  const api = Object.freeze({
    /** Starts the widget (once); options are camelCase, over the script tag's data-* attributes. */
    init(options = {}) {
      if (widget) return api;
      const merged = { ...fromTag, ...options };
      if (!merged.flexFlowSid) {
        console.error("Switchboard web chat: flexFlowSid (data-flex-flow-sid) is required");
        return api;
      }
      widget = new Webchat(merged);
      return api;
    },
    open: () => widget && widget.open(),
    close: () => widget && widget.close(),
    endChat: () => (widget ? widget.endChat() : Promise.resolve()),
  });
  window.SwitchboardWebchat = api;
  if (fromTag.flexFlowSid) api.init();
})();
