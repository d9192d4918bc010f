/* The selected conversation's message log: order, scrolling, history pages. */

import { dropPending, showPending } from "./composer.js";
import { customerIdentity, displayName, isSelected, renderItem, selectedConversation } from "./conversation.js";
import { el, formatTime, me } from "./helpers.js";
import { mediaNode } from "./media.js";
import { mergeNotes, renderNotes } from "./notes.js";
import { markRead, onDeliveryStatus, renderTyping, showReceipt } from "./receipts.js";
import { command } from "./socket.js";
import { $, HISTORY_PAGE, state } from "./state.js";

// The log stays in order: the earlier-button, messages by index, notices after the message they
// followed, messages being sent last.
const orderOf = new WeakMap();

export function placeNode(node, order, replacing) {
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

export function rebuildLog(conv) {
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
  renderNotes(conv);
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

export function scrollToEnd() {
  const box = $("messages");
  follow(true);
  box.scrollTop = box.scrollHeight;
  state.autoScrollTop = box.scrollTop;
}

// A scroll the desk made itself (the view has not moved since, however the log grew) leaves the
// log followed; any other scroll decides by where it ends: at the end, or reading further up.
export function onLogScroll() {
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

export function addNotice(conv, text) {
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
export function storeMessage(conv, data, date) {
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

export function onMessageEvent(conv, data, date) {
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

export async function loadHistory(conv) {
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
  mergeNotes(conv, page.notes);
  // has_more speaks of what lies before this page: it counts if the page reaches furthest back.
  if (!messages.length) conv.hasMore = false;
  else if (messages[0].index <= oldest) conv.hasMore = !!page.has_more;
  renderItem(conv);
  renderEarlierButton(conv);
  markRead(conv);
}
