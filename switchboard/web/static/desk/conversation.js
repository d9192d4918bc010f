/* Conversations: the list, the selected one's header and actions, their details. */

import { closeTemplate } from "./composer.js";
import { renderDisposition } from "./disposition.js";
import { announce, clearError, el, me } from "./helpers.js";
import { addNotice, loadHistory, rebuildLog } from "./log.js";
import { closeNoteForm } from "./notes.js";
import { removeReservation, renderPlaceholders } from "./offers.js";
import { showPast } from "./past.js";
import { renderReceipts, renderTyping } from "./receipts.js";
import { command } from "./socket.js";
import { $, FINISHED, state, TASK_RANK } from "./state.js";
import { closeTransfer } from "./task-actions.js";

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
    closed: false, // the channel is INACTIVE (or CLOSED for good)
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
export function conversationFor(sid) {
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
export function closeConversation(conv) {
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

export const selectedConversation = () => state.conversations.get(state.selected) || null;
export const isSelected = (conv) => !!conv && state.selected === conv.sid;
const taskStatus = (conv) => (conv.task ? conv.task.assignment_status : null);
export const laterStatus = (a, b) => ((TASK_RANK[a] ?? -1) > (TASK_RANK[b] ?? -1) ? a : b);

export function adoptTask(conv, task, reservation) {
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

export function onTaskEvent(data, channelSid, status) {
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
export async function requestInfo(conv) {
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
  if ((info.status === "INACTIVE" || info.status === "CLOSED") && !conv.closed) {
    conv.closed = true;
    addNotice(conv, "Channel closed.");
  }
  refreshConversation(conv);
  // Roles (customer or other) depend on who the customer is: redraw if that just became known.
  if (isSelected(conv) && conv.renderedCustomer !== customer) rebuildLog(conv);
  else renderReceipts(conv);
}

export function customerIdentity(conv) {
  const info = conv.info;
  if (!info) return null;
  if (info.customer && info.customer.identity) return info.customer.identity;
  // Without a contact, the first member who is not an agent is the customer.
  const agents = new Set(state.directory.workers.map((w) => w.identity).concat(me()));
  const member = (info.members || []).find((m) => !agents.has(m.identity));
  return member ? member.identity : null;
}

export function customerName(conv) {
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

export function displayName(conv, identity) {
  if (identity === me()) return "You";
  if (identity && identity === customerIdentity(conv)) return customerName(conv);
  const worker = state.directory.workers.find((w) => w.identity === identity);
  return String((worker && (worker.display_name || worker.friendly_name)) || identity || "Someone");
}

export function refreshConversation(conv) {
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

export function renderItem(conv) {
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

export function selectConversation(sid, byUser) {
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
    closeNoteForm();
    showPast(conv);
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

export function renderActions(conv) {
  const status = taskStatus(conv);
  const mine = !!(conv.task && conv.task.reservation_sid);
  $("transfer").disabled = !(mine && status === "assigned");
  $("wrapup").disabled = !(mine && status === "assigned");
  $("complete").disabled = !(mine && status === "wrapping");
  // Once the customer has gone, the next step is what the agent should see.
  $("wrapup").classList.toggle("attention", conv.ended && status === "assigned");
  $("complete").classList.toggle("attention", conv.ended && status === "wrapping");
  if ($("transfer").disabled) closeTransfer();
  renderDisposition(conv, status, mine);
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

export function onChatEnded(conv, by) {
  conv.ended = true;
  const text = endedText(by);
  addNotice(conv, text);
  if (!isSelected(conv)) announce(`${customerName(conv)}: ${text}`);
  refreshConversation(conv);
  requestInfo(conv);
}
