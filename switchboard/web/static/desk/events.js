/* The `ready` snapshot and the event stream, dispatched to the modules they concern. */

import { loadDirectory, showActivity } from "./activity.js";
import { setDispositions } from "./disposition.js";
import { adoptTask, conversationFor, onChatEnded, onTaskEvent, requestInfo } from "./conversation.js";
import { me, setStatus } from "./helpers.js";
import { addNotice, onMessageEvent } from "./log.js";
import { onNoteEvent } from "./notes.js";
import { addReservation, normalizeReservation, removeReservation, taskFromReservation } from "./offers.js";
import { onDeliveryStatus, onReadEvent, onTypingEvent } from "./receipts.js";
import { saveSession } from "./signin.js";
import { $, state } from "./state.js";
import { onBoardUpdate, onMonitorMessage, supervisorReady } from "./supervisor.js";

export function onReady(frame) {
  setStatus("Connected", "connected");
  if (state.session) state.session.accepted = true;
  const worker = frame.worker || {};
  state.worker.sid = worker.sid || state.worker.sid;
  if (worker.identity && state.session) {
    state.session.identity = worker.identity;
    // The name customers see, with the sign-in identity a hover away.
    $("me").textContent = worker.display_name || worker.identity;
    $("me").title = worker.identity;
    saveSession();
  }
  showActivity(worker.activity_sid, worker.activity_name, worker.available);
  setDispositions(frame.dispositions);
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
  supervisorReady(frame);
}

export function onEventFrame(frame) {
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
    const closed = data.status === "INACTIVE" || data.status === "CLOSED";
    if (closed && !conv.closed) addNotice(conv, "Channel closed.");
    conv.closed = closed;
    requestInfo(conv);
  }),
  "chat.ended": known((conv, data) => onChatEnded(conv, data.by)),
  // A conversation comes with its task (reservation events, `ready`), never with a message: a
  // customer writing again on a channel the agent finished with is a new offer, not her chat.
  message: known((conv, data, frame) => onMessageEvent(conv, data, frame.date)),
  "message.status": known(onDeliveryStatus),
  note: known(onNoteEvent),
  typing: known(onTypingEvent),
  read: known(onReadEvent),
  // The supervisor view (supervisor.js): not part of the sequenced feed.
  "supervisor.update": (data) => onBoardUpdate(data),
  "monitor.message": (data, channelSid) => onMonitorMessage(data, channelSid),
};
