/* The wrap-up disposition: the outcome the agent picks from the deployment's list (the `ready`
 * frame's `dispositions`) while wrapping up; sent with `wrapup` or `complete` and stored on the
 * task as `conversations.outcome`. Hidden when the list is empty. */

import { el } from "./helpers.js";
import { $, state } from "./state.js";

let choices = [];

/** The list from `ready`: builds the picker once, beside the task actions. */
export function setDispositions(list) {
  choices = Array.isArray(list) ? list.filter((c) => typeof c === "string" && c) : [];
  if (!$("disposition")) {
    const select = el("select", {
      id: "disposition", "data-testid": "desk-disposition",
      on: { change: () => remember(state.conversations.get(state.selected), select.value) },
    });
    const label = el("label", { for: "disposition", id: "disposition-label", class: "disposition-label", text: "Outcome" });
    const box = el("span", { id: "disposition-box", class: "disposition", hidden: true }, label, select);
    $("wrapup").before(box);
  }
  const none = el("option", { value: "", text: "Choose an outcome…" });
  $("disposition").replaceChildren(none, ...choices.map((c) => el("option", { value: c, text: c })));
}

// A pick belongs to the conversation's current task: the customer's next interaction starts afresh.
function remember(conv, value) {
  if (conv && conv.task) conv.disposition = { task_sid: conv.task.sid, value };
}

function picked(conv) {
  const pick = conv && conv.task && conv.disposition;
  return pick && pick.task_sid === conv.task.sid && choices.includes(pick.value) ? pick.value : "";
}

/** Shown while the agent's task is assigned or wrapping up, with the conversation's pick. */
export function renderDisposition(conv, status, mine) {
  const box = $("disposition-box");
  if (!box) return;
  box.hidden = !(choices.length && mine && (status === "assigned" || status === "wrapping"));
  $("disposition").value = picked(conv);
}

/** The fields `wrapup` and `complete` carry: the pick, if any. */
export function dispositionFields(name, conv) {
  const value = picked(conv);
  return (name === "wrapup" || name === "complete") && value ? { disposition: value } : {};
}
