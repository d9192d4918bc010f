/* Receipts, delivery reports, read horizons and typing. */

import { customerIdentity, displayName, isSelected, selectedConversation } from "./conversation.js";
import { me } from "./helpers.js";
import { command } from "./socket.js";
import { $, DELIVERY_LABELS, DELIVERY_RANK, state, TYPING_SHOWN_MS } from "./state.js";

function receiptFor(conv, index) {
  const reported = conv.delivery.get(index);
  if (reported && (reported.status === "failed" || reported.status === "undelivered")) {
    const code = reported.error_code ? ` (${reported.error_code})` : "";
    return `Not delivered${code}: ${reported.error_message || "the provider refused it"}`;
  }
  if (index <= conv.customerRead) return "Read";
  return reported ? DELIVERY_LABELS[reported.status] || String(reported.status) : "Sent";
}

export function showReceipt(conv, index, node) {
  const status = node.querySelector("[data-testid=message-status]");
  if (!status) return;
  status.textContent = receiptFor(conv, index);
  const reported = conv.delivery.get(index);
  node.classList.toggle("failed", !!reported && DELIVERY_RANK[reported.status] === 5);
}

export function renderReceipts(conv) {
  if (isSelected(conv)) for (const [index, node] of state.nodes) showReceipt(conv, index, node);
}

// Reports may cross on the way: a later stage is never replaced by an earlier one.
export function onDeliveryStatus(conv, data) {
  if (typeof data.index !== "number") return;
  const before = conv.delivery.get(data.index);
  if (before && (DELIVERY_RANK[before.status] ?? -1) > (DELIVERY_RANK[data.status] ?? -1)) return;
  conv.delivery.set(data.index, data);
  const node = isSelected(conv) && state.nodes.get(data.index);
  if (node) showReceipt(conv, data.index, node);
}

export function onReadEvent(conv, data) {
  if (typeof data.index !== "number" || data.identity !== customerIdentity(conv)) return; // only the customer's horizon counts
  conv.customerRead = Math.max(conv.customerRead, data.index);
  renderReceipts(conv);
}

// Tells the others how far this agent has read, when the conversation is really in view.
export function markRead(conv) {
  if (!isSelected(conv) || document.visibilityState !== "visible" || !conv.messages.size) return;
  const latest = Math.max(...conv.messages.keys());
  if (latest <= conv.readSent) return;
  conv.readSent = latest;
  command("mark_read", { channel_sid: conv.sid, index: latest }, { quiet: true }).catch(() => {
    conv.readSent = -1;
  });
}

export function onTypingEvent(conv, data) {
  if (!data.identity || data.identity === me()) return;
  conv.typing = { identity: data.identity, who: displayName(conv, data.identity), until: Date.now() + TYPING_SHOWN_MS };
  if (isSelected(conv)) renderTyping(conv);
}

export function renderTyping(conv) {
  clearTimeout(state.typingTimer);
  const typing = conv && conv.typing;
  const showing = !!typing && typing.until > Date.now();
  $("typing").textContent = showing ? `${typing.who} is typing…` : "";
  $("typing").hidden = !showing;
  if (showing) state.typingTimer = setTimeout(() => renderTyping(selectedConversation()), typing.until - Date.now());
}
