/* Task actions: wrap up, complete, transfer. */

import { loadDirectory } from "./activity.js";
import { dispositionFields } from "./disposition.js";
import { closeConversation, customerName, isSelected, laterStatus, refreshConversation, renderActions, requestInfo, selectedConversation } from "./conversation.js";
import { announce, clearError, el, me, showError } from "./helpers.js";
import { addNotice } from "./log.js";
import { command } from "./socket.js";
import { $, state } from "./state.js";

export async function taskCommand(name) {
  const conv = selectedConversation();
  const task = conv && conv.task;
  if (!task || !task.reservation_sid) return showError("This conversation has no task of yours.");
  $(name).disabled = true;
  try {
    const result = await command(name, { reservation_sid: task.reservation_sid, ...dispositionFields(name, conv) });
    if (conv.task && conv.task.sid === task.sid) {
      conv.task.assignment_status = laterStatus(conv.task.assignment_status, name === "wrapup" ? "wrapping" : result.status || "completed");
    }
    clearError();
    refreshConversation(conv);
    if (name === "complete") {
      announce(`${customerName(conv)}: task completed.`);
      closeConversation(conv); // the agent is done with it; the customer's next message brings it back
      return;
    }
    if (isSelected(conv)) $("complete").focus();
  } catch (err) {
    /* shown */
  } finally {
    if (isSelected(conv)) renderActions(conv);
  }
}

export async function openTransfer() {
  if (!$("transfer-panel").hidden) return closeTransfer();
  $("transfer-panel").hidden = false;
  $("transfer").setAttribute("aria-expanded", "true");
  $("transfer-target").replaceChildren(el("option", { value: "", text: "Loading…" }));
  $("transfer-confirm").disabled = true;
  // Who is available changes all the time: ask each time the panel opens.
  await loadDirectory();
  if ($("transfer-panel").hidden) return;
  const queues = state.directory.queues.map((q) => el("option", { value: `queue:${q.sid}`, text: `Queue: ${q.friendly_name}` }));
  const agents = state.directory.workers
    .filter((w) => w.available && w.sid !== state.worker.sid && w.identity !== me())
    .map((w) => el("option", { value: `worker:${w.sid}`, text: `Agent: ${w.display_name || w.friendly_name}` }));
  const options = [...queues, ...agents];
  $("transfer-target").replaceChildren(...(options.length ? options : [el("option", { value: "", text: "No queue or agent to transfer to" })]));
  $("transfer-confirm").disabled = options.length === 0;
  $("transfer-target").focus();
}

export function closeTransfer() {
  const hadFocus = $("transfer-panel").contains(document.activeElement);
  $("transfer-panel").hidden = true;
  $("transfer").setAttribute("aria-expanded", "false");
  if (hadFocus && !$("transfer").disabled) $("transfer").focus();
}

export async function confirmTransfer() {
  const conv = selectedConversation();
  const task = conv && conv.task;
  const select = $("transfer-target");
  const [kind, sid] = select.value.split(":");
  if (!task || !sid) return;
  const target = select.selectedOptions[0] ? select.selectedOptions[0].textContent : sid;
  $("transfer-confirm").disabled = true;
  try {
    await command("transfer", { task_sid: task.sid, [kind === "queue" ? "to_queue_sid" : "to_worker_sid"]: sid });
    closeTransfer();
    clearError();
    addNotice(conv, `Transfer requested: ${target}.`);
    requestInfo(conv);
  } catch (err) {
    /* shown */
  } finally {
    $("transfer-confirm").disabled = false;
  }
}
