/* Composing and sending: text, templates, attachments, pending messages. */

import { isSelected, renderItem, selectedConversation } from "./conversation.js";
import { clearError, el, errorText, me, newKey, showError } from "./helpers.js";
import { placeNode, scrollToEnd, storeMessage } from "./log.js";
import { command } from "./socket.js";
import { $, state, TYPING_SEND_EVERY_MS } from "./state.js";

export function sendFromComposer() {
  const conv = selectedConversation();
  const body = $("input").value.trim();
  if (!conv || !body || $("input").disabled) return;
  $("input").value = "";
  const pending = { key: newKey(), fields: { body }, media: [], label: "", status: "sending", node: null };
  conv.pending.set(pending.key, pending);
  sendPending(conv, pending);
}

export function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendFromComposer();
  }
}

// `typing` at most every two seconds while the agent writes.
export function onComposerInput() {
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

export function sendTemplate(event) {
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

export function closeTemplate() {
  const hadFocus = $("template").contains(document.activeElement);
  $("template").hidden = true;
  if (hadFocus) $("input").focus();
}

export function showPending(conv, pending) {
  if (!conv.pending.has(pending.key) || !isSelected(conv)) return;
  const old = pending.node;
  pending.node = pendingNode(conv, pending);
  placeNode(pending.node, Infinity, old);
  scrollToEnd();
}

export function dropPending(conv, pending) {
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

export async function onFileChosen() {
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
