/* The agent's activity and the directory (queues, agents, activities, Flex Flows). */

import { el } from "./helpers.js";
import { command } from "./socket.js";
import { $, state } from "./state.js";

export async function loadDirectory() {
  try {
    const data = await command("directory", {}, { quiet: true });
    state.directory = {
      queues: data.queues || [], workers: data.workers || [], activities: data.activities || [], flexFlows: data.flex_flows || [],
    };
    renderActivities();
  } catch (err) {
    /* the menu keeps the current activity; the transfer panel says when it has no one */
  }
}

function renderActivities() {
  const activities = state.directory.activities;
  if (!activities.length) return;
  $("activity").replaceChildren(...activities.map((a) => el("option", { value: a.sid, text: a.friendly_name })));
  showActivity(state.worker.activity_sid);
}

// Shows the worker's activity (with an option of its own until the directory has come).
export function showActivity(sid, name, available) {
  if (sid) state.worker.activity_sid = sid;
  if (typeof available === "boolean") state.worker.available = available;
  const select = $("activity");
  const current = state.worker.activity_sid;
  if (current && ![...select.options].some((o) => o.value === current)) {
    select.append(el("option", { value: current, text: name || "Current activity" }));
  }
  if (current) select.value = current;
  $("availability").dataset.available = String(state.worker.available);
}

export async function onActivityChange() {
  const before = state.worker.activity_sid;
  try {
    const result = await command("set_activity", { activity: $("activity").value });
    showActivity(result.activity_sid, result.activity_name, result.available);
  } catch (err) {
    showActivity(before);
  }
}
