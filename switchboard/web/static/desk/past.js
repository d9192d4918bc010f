/* The customer's past: the conversation's contact's earlier conversations (its other channels,
 * earlier interactions of this one) with dates and outcomes, each opened read-only in a dialog.
 * The agent serving the customer may read them (docs/access.md). */

import { isSelected } from "./conversation.js";
import { el, formatTime } from "./helpers.js";
import { noteNode } from "./notes.js";
import { command } from "./socket.js";
import { $ } from "./state.js";

function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return `${date.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" })} ${formatTime(iso)}`;
}

// Each earlier interaction (a channel without one counts once), latest first, this one left out.
function pastEntries(conv, conversations) {
  const current = conv.task ? conv.task.sid : null;
  const entries = [];
  for (const channel of conversations) {
    const interactions = channel.interactions.length ? channel.interactions : [null];
    for (const interaction of interactions) {
      if (channel.channel_sid === conv.sid && (!interaction || interaction.task_sid === current)) continue;
      entries.push({ channel, interaction, date: interaction ? interaction.date_created : channel.date_created });
    }
  }
  return entries.sort((a, b) => Date.parse(b.date) - Date.parse(a.date));
}

function outcomeText({ channel, interaction }) {
  if (!interaction) return `No task · channel ${channel.status.toLowerCase()}`;
  const parts = [`Task ${interaction.assignment_status}`];
  if (interaction.ended_by) parts.push(`ended by ${interaction.ended_by}`);
  if (interaction.agents.length) parts.push(`with ${interaction.agents.join(", ")}`);
  return parts.join(" · ");
}

export async function showPast(conv) {
  $("past").hidden = true;
  $("past-list").replaceChildren();
  let answer;
  try {
    answer = await command("contact_history", { channel_sid: conv.sid }, { quiet: true });
  } catch (err) {
    return; /* not this agent's to read: nothing to show */
  }
  if (!isSelected(conv)) return;
  const entries = pastEntries(conv, answer.conversations || []);
  if (!entries.length) return;
  $("past-summary").textContent = `Earlier conversations (${entries.length})`;
  $("past-list").replaceChildren(...entries.map((entry) => {
    const outcome = entry.interaction && entry.interaction.outcome;
    return el("li", { class: "past-item", "data-testid": "desk-past-item" },
      el("span", { class: "past-line" },
        el("time", { datetime: entry.date, text: formatDate(entry.date) }),
        el("span", { class: "pill", text: entry.channel.channel_type })),
      el("span", { class: "past-outcome", text: outcomeText(entry) }),
      outcome ? el("span", { class: "past-disposition", "data-testid": "desk-past-outcome", text: `Outcome: ${outcome}` }) : null,
      el("button", {
        type: "button", class: "secondary small", "data-testid": "desk-past-open",
        "aria-label": `Open the conversation of ${formatDate(entry.date)} (read-only)`,
        on: { click: () => openPast(entry) },
      }, "Open"));
  }));
  $("past").hidden = false;
}

export function wirePast() {
  $("past-close").addEventListener("click", () => $("past-dialog").close());
}

async function openPast(entry) {
  let page;
  try {
    page = await command("history", { channel_sid: entry.channel.channel_sid, limit: 100 });
  } catch (err) {
    return; /* shown */
  }
  $("past-dialog-title").textContent = `${entry.channel.channel_type} conversation of ${formatDate(entry.date)} (read-only)`;
  const lines = [
    ...(page.messages || []).map((m) => ({ date: m.date_created, order: 0, node: pastMessage(m) })),
    ...(page.notes || []).map((n) => ({ date: n.date_created, order: 1, node: noteNode({ messages: new Map() }, n) })),
  ].sort((a, b) => Date.parse(a.date) - Date.parse(b.date) || a.order - b.order);
  $("past-messages").replaceChildren(...lines.map((line) => line.node));
  $("past-dialog").showModal();
}

function pastMessage(m) {
  return el("div", { class: "msg other", "data-testid": "desk-past-message" },
    el("span", { class: "msg-author", text: String(m.from || "") }),
    m.body ? el("p", { class: "msg-body", text: m.body }) : null,
    el("span", { class: "msg-meta" }, el("time", { datetime: m.date_created || null, text: formatDate(m.date_created) })));
}
