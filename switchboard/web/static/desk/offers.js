/* Incoming requests (reservations): shown, accepted or rejected, counted in the title. */

import { adoptTask, conversationFor, selectConversation } from "./conversation.js";
import { announce, el, formatWait } from "./helpers.js";
import { command } from "./socket.js";
import { $, BASE_TITLE, state } from "./state.js";

// `ready` items and reservation events name their fields slightly differently.
export function normalizeReservation(r) {
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

export function taskFromReservation(r, status) {
  return { sid: r.task_sid, reservation_sid: r.reservation_sid, assignment_status: status, attributes: r.task_attributes, queue_sid: r.queue_sid };
}

export function addReservation(r, live) {
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

export function acceptStarted(r) {
  state.startedTasks.delete(r.task_sid);
  answerReservation(r.reservation_sid, "accept");
}

export function removeReservation(sid) {
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

export function tickWaits() {
  const now = Date.now();
  for (const entry of state.reservations.values()) {
    entry.wait.textContent = formatWait(entry.data.task_age + (now - entry.receivedAt) / 1000);
  }
}

// The tab's title counts the requests, and flashes while the tab is in the background.
export function updateTitle() {
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

export function renderPlaceholders() {
  $("no-reservations").hidden = state.reservations.size > 0;
  $("no-conversations").hidden = state.conversations.size > 0;
}
