/* Internal notes: written from a small form beside the composer, shown in the log among the
 * messages (by time), styled apart and labelled as never sent to the customer. Notes come with
 * history pages (`notes`) and live (`note` events); docs/agent-socket.md. */

import { displayName, isSelected, selectedConversation } from "./conversation.js";
import { announce, el, formatTime } from "./helpers.js";
import { placeNode, scrollToEnd } from "./log.js";
import { command } from "./socket.js";
import { $, state } from "./state.js";

const notesOf = (conv) => conv.internalNotes || (conv.internalNotes = new Map());

export function wireNotes() {
  $("note-open").addEventListener("click", () => ($("note-form").hidden ? openNoteForm() : closeNoteForm()));
  $("note-form").addEventListener("submit", saveNote);
  $("note-cancel").addEventListener("click", closeNoteForm);
  $("note-form").addEventListener("keydown", (event) => event.key === "Escape" && closeNoteForm());
}

function openNoteForm() {
  $("note-form").hidden = false;
  $("note-open").setAttribute("aria-expanded", "true");
  $("note-input").focus();
}

export function closeNoteForm() {
  const wasOpen = !$("note-form").hidden;
  $("note-form").hidden = true;
  $("note-open").setAttribute("aria-expanded", "false");
  if (wasOpen && $("note-form").contains(document.activeElement)) $("note-open").focus();
}

async function saveNote(event) {
  event.preventDefault();
  const conv = selectedConversation();
  const body = $("note-input").value;
  if (!conv || !body.trim()) return;
  $("note-save").disabled = true;
  try {
    addNote(conv, await command("add_note", { channel_sid: conv.sid, body }));
    $("note-input").value = "";
    closeNoteForm();
    announce("Internal note added. The customer does not see it.");
  } catch (err) {
    /* shown */
  } finally {
    $("note-save").disabled = false;
  }
}

export function addNote(conv, note) {
  if (!note || !note.sid || notesOf(conv).has(note.sid)) return;
  notesOf(conv).set(note.sid, note);
  if (!isSelected(conv)) return;
  const follow = state.atEnd;
  placeNote(conv, note);
  if (follow) scrollToEnd();
}

export function mergeNotes(conv, notes) {
  for (const note of Array.isArray(notes) ? notes : []) addNote(conv, note);
}

// A note live: the agents on the channel hear it; one on another conversation is announced.
export function onNoteEvent(conv, data) {
  addNote(conv, data);
  if (!isSelected(conv)) announce(`Internal note from ${displayName(conv, data.author)}`);
}

// The log was redrawn: its notes go back among the messages.
export function renderNotes(conv) {
  for (const note of notesOf(conv).values()) placeNote(conv, note);
}

// After the last message written at or before the note (between it and the next one).
function orderOf(conv, note) {
  const when = Date.parse(note.date_created);
  let order = -0.5;
  for (const [index, message] of conv.messages) {
    const date = Date.parse(message.date);
    if (!Number.isNaN(date) && date <= when && index + 0.25 > order) order = index + 0.25;
  }
  return order + [...notesOf(conv).keys()].indexOf(note.sid) / 10000;
}

export function noteNode(conv, note) {
  return el("div", { class: "msg note", "data-testid": "desk-note", "data-author-role": "note" },
    el("span", { class: "msg-author", text: `Internal note · ${displayName(conv, note.author)}` }),
    el("p", { class: "msg-body", "data-testid": "note-body", text: note.body }),
    el("span", { class: "msg-meta" },
      el("time", { datetime: note.date_created || null, text: formatTime(note.date_created) }),
      " · Not sent to the customer"));
}

function placeNote(conv, note) {
  const box = $("messages");
  const existing = box.querySelector(`[data-note-sid="${CSS.escape(note.sid)}"]`);
  const node = noteNode(conv, note);
  node.dataset.noteSid = note.sid;
  placeNode(node, orderOf(conv, note), existing);
}
