/*
 * The supervisor view, for desks signed in with the supervisor or admin role (docs/agent-socket.md,
 * "The supervisor view"): the workspace's queues, agents and live conversations as the server
 * pushes them (`supervise` once per connection, then `supervisor.update` events with the rows
 * that changed; the page never asks again), a conversation monitored read-only (`monitor`,
 * `history`, then `monitor.message` events), and the supervisor's actions: transfer a
 * conversation to a queue or an agent, change an agent's activity.
 *
 * Everything from the server is put in the page as text (textContent), never parsed as HTML.
 */

import { loadDirectory } from "./activity.js";
import { announce, el, formatTime, formatWait } from "./helpers.js";
import { command } from "./socket.js";
import { $, HISTORY_PAGE, state } from "./state.js";

const ROLES = new Set(["supervisor", "admin"]);
const SECTIONS = ["queues", "agents", "conversations"];
const STATUS_LABELS = { pending: "Waiting", reserved: "Offered", assigned: "With agent", wrapping: "Wrapping up" };

const team = {
  on: false, // this desk's role sees the view
  visible: false, // the view is shown instead of the agent's own conversation
  built: false,
  board: { queues: {}, agents: {}, conversations: {} },
  rows: { queues: new Map(), agents: new Map(), conversations: new Map() },
  monitored: null, // {channel_sid, indices: Set, customer}
};

export function wireSupervisor() {
  $("team-toggle").addEventListener("click", () => showTeam(!team.visible));
  // Picking one of the agent's own requests or conversations goes back to them.
  for (const id of ["reservations", "conversations"]) {
    $(id).addEventListener("click", () => team.visible && showTeam(false));
  }
  setInterval(tickTeam, 1000);
}

function showTeam(visible) {
  team.visible = visible && team.on;
  $("team").hidden = !team.visible;
  $("main").hidden = team.visible;
  $("team-toggle").setAttribute("aria-pressed", String(team.visible));
  if (team.visible) $("team-title").focus();
}

// Each (re)connection: the role decides; a supervisor subscribes again (and monitors again what
// it monitored: the events of a dropped socket are not resent).
export async function supervisorReady(frame) {
  team.on = ROLES.has(frame.role);
  $("team-toggle").hidden = !team.on;
  if (!team.on) {
    showTeam(false);
    $("team").replaceChildren();
    Object.assign(team, { built: false, monitored: null });
    return;
  }
  build();
  try {
    await loadDirectory();
    const board = await command("supervise", {}, { quiet: true });
    team.board = { queues: board.queues || {}, agents: board.agents || {}, conversations: board.conversations || {} };
    setProblem("");
    render();
    if (team.monitored) monitor(team.monitored.channel_sid);
  } catch (err) {
    setProblem(`The team view is not available: ${err.message}`);
  }
}

export function onBoardUpdate(data) {
  if (!team.on) return;
  for (const section of SECTIONS) {
    for (const [sid, row] of Object.entries(data[section] || {})) {
      if (row === null) delete team.board[section][sid];
      else team.board[section][sid] = row;
    }
  }
  render();
}

export function onMonitorMessage(data, channelSid) {
  if (team.monitored && team.monitored.channel_sid === channelSid) addMonitored(data);
}

// ---- Building the view (once) ---------------------------------------------------------------------

function table(testid, caption, headers) {
  const body = el("tbody");
  const node = el(
    "table", { class: "team-table", "data-testid": testid },
    el("caption", { class: "sr-only", text: caption }),
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { scope: "col", text: h })))),
    body,
  );
  return { node, body };
}

function card(id, title, ...children) {
  return el("section", { class: "team-card", "aria-labelledby": id }, el("h3", { id, text: title }), ...children);
}

function build() {
  if (team.built) return;
  team.built = true;
  team.queues = table("team-queues", "Queues: waiting tasks, longest wait and agents available", ["Queue", "Waiting", "Longest wait", "Agents available", "With agents"]);
  team.agents = table("team-agents", "Agents: activity, conversations and capacity used", ["Agent", "Activity", "Conversations", "Capacity used"]);
  team.live = table("team-conversations", "Live conversations", ["Customer", "Channel", "Status", "Queue", "Agent", "Since", "Monitor"]);
  team.summary = el("p", { id: "team-summary", class: "team-summary", "data-testid": "team-summary", "aria-live": "polite", "aria-atomic": "true" });
  team.problem = el("p", { class: "team-problem", role: "alert", hidden: true });
  team.noLive = el("p", { class: "placeholder", text: "No live conversations." });
  team.monitor = buildMonitor();
  $("team").replaceChildren(
    el("header", { class: "team-header" },
      el("h2", { id: "team-title", tabindex: "-1", text: "Team" }),
      team.summary),
    team.problem,
    el("div", { class: "team-grid" },
      card("team-queues-title", "Queues", team.queues.node),
      card("team-agents-title", "Agents", team.agents.node),
      el("div", { class: "team-wide" }, card("team-live-title", "Live conversations", team.live.node, team.noLive)),
      team.monitor.node),
  );
  team.rows = { queues: new Map(), agents: new Map(), conversations: new Map() };
}

function buildMonitor() {
  const title = el("h3", { id: "team-monitor-title", "data-testid": "team-monitor-title" });
  const log = el("ol", { class: "team-log", role: "log", "aria-live": "polite", "aria-labelledby": "team-monitor-title", "data-testid": "team-monitor-log", tabindex: "0" });
  const target = el("select", { id: "team-transfer-target", "data-testid": "team-transfer-target" });
  const transfer = el("button", { type: "button", "data-testid": "team-transfer", text: "Transfer", on: { click: transferMonitored } });
  const close = el("button", { type: "button", class: "ghost small", "data-testid": "team-monitor-close", text: "Stop monitoring", on: { click: stopMonitor } });
  const node = el("section", { class: "team-card team-monitor", "aria-labelledby": "team-monitor-title", "data-testid": "team-monitor", hidden: true },
    el("div", { class: "team-monitor-head" }, title, el("span", { class: "pill", text: "read-only" }), close),
    log,
    el("div", { class: "team-transfer", role: "group", "aria-label": "Transfer this conversation" },
      el("label", { for: "team-transfer-target", text: "Transfer to" }), target, transfer));
  return { node, title, log, target, transfer };
}

function setProblem(text) {
  if (!team.problem) return;
  team.problem.textContent = text;
  team.problem.hidden = !text;
}

// ---- Rendering (rows kept by SID and updated in place, so focus and selections survive) ----------

function render() {
  if (!team.built) return;
  const { queues, agents, conversations } = team.board;
  renderRows("queues", team.queues.body, sorted(queues, (q) => q.friendly_name), queueRow);
  renderRows("agents", team.agents.body, sorted(agents, (a) => a.identity || a.friendly_name), agentRow);
  renderRows("conversations", team.live.body, sorted(conversations, (c) => c.date_created), conversationRow);
  team.noLive.hidden = Object.keys(conversations).length > 0;
  const waiting = Object.values(queues).reduce((n, q) => n + q.waiting, 0);
  const available = Object.values(agents).filter((a) => a.available).length;
  const summary = `${waiting} waiting · ${available} of ${Object.keys(agents).length} agents available · ${Object.keys(conversations).length} live`;
  if (team.summary.textContent !== summary) team.summary.textContent = summary; // polite: only real changes
  renderMonitor();
  tickTeam();
}

const sorted = (rows, key) => Object.values(rows).sort((a, b) => String(key(a)).localeCompare(String(key(b))));

function renderRows(section, body, rows, make) {
  const known = team.rows[section];
  const wanted = new Set();
  rows.forEach((row, position) => {
    const sid = row.sid || row.task_sid;
    wanted.add(sid);
    let entry = known.get(sid);
    if (!entry) {
      entry = make(row);
      known.set(sid, entry);
    }
    entry.update(row);
    if (body.children[position] !== entry.node) body.insertBefore(entry.node, body.children[position] || null);
  });
  for (const [sid, entry] of known) {
    if (!wanted.has(sid)) {
      entry.node.remove();
      known.delete(sid);
    }
  }
}

function cells(count) {
  return Array.from({ length: count }, (_, i) => el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}));
}

function queueRow() {
  const [name, waiting, longest, available, busy] = cells(5);
  waiting.dataset.testid = "queue-waiting";
  available.dataset.testid = "queue-available";
  longest.dataset.testid = "queue-longest";
  const node = el("tr", { "data-testid": "team-queue" }, name, waiting, longest, available, busy);
  return {
    node,
    update(q) {
      node.dataset.sid = q.sid;
      name.textContent = q.friendly_name;
      waiting.textContent = String(q.waiting);
      node.classList.toggle("team-waiting", q.waiting > 0);
      longest.dataset.since = q.longest_task_waiting_since || "";
      available.textContent = `${q.total_available_workers} of ${q.total_eligible_workers}`;
      busy.textContent = String(q.assigned + q.wrapping);
    },
  };
}

function agentRow() {
  const [name, activity, conversations, capacity] = cells(4);
  const select = el("select", { "data-testid": "agent-activity", on: { change: () => changeActivity(node.dataset.sid, select) } });
  activity.append(select);
  conversations.dataset.testid = "agent-conversations";
  const dot = el("span", { class: "team-dot", "aria-hidden": "true" });
  const label = el("span");
  name.append(dot, label);
  const node = el("tr", { "data-testid": "team-agent" }, name, activity, conversations, capacity);
  return {
    node,
    update(a) {
      node.dataset.sid = a.sid;
      label.textContent = a.identity || a.friendly_name;
      dot.dataset.available = String(a.available);
      select.setAttribute("aria-label", `Activity of ${a.identity || a.friendly_name}`);
      const activities = state.directory.activities.length ? state.directory.activities : [{ sid: a.activity_sid, friendly_name: a.activity_name }];
      if (select.options.length !== activities.length) {
        select.replaceChildren(...activities.map((x) => el("option", { value: x.sid, text: x.friendly_name })));
      }
      if (document.activeElement !== select) select.value = a.activity_sid;
      conversations.textContent = String(a.conversations);
      capacity.replaceChildren(...shownChannels(a.channels || {}).map(([channel, c]) => meter(channel, c)));
    },
  };
}

// The task channels that say something: those in use or taking several tasks at once (a chat
// desk's), else chat's; not every channel a workspace defines.
function shownChannels(channels) {
  const entries = Object.entries(channels);
  const telling = entries.filter(([, c]) => c.assigned_tasks > 0 || c.configured_capacity > 1);
  return telling.length ? telling : entries.filter(([name]) => name === "chat");
}

function meter(channel, c) {
  const used = c.assigned_tasks;
  const total = c.configured_capacity || 0;
  return el("span", { class: "team-capacity", "data-testid": `capacity-${channel}` },
    el("span", { class: "team-capacity-name", text: channel }),
    el("meter", { min: "0", max: String(Math.max(total, 1)), value: String(Math.min(used, Math.max(total, 1))), "aria-label": `${channel}: ${used} of ${total}` }),
    el("span", { class: "team-capacity-count", text: `${used}/${total}` }));
}

function conversationRow() {
  const [customer, channel, status, queue, agent, since, action] = cells(7);
  const button = el("button", { type: "button", class: "secondary small", "data-testid": "team-monitor-open", text: "Monitor" });
  button.addEventListener("click", () => monitor(node.dataset.channel));
  action.append(button);
  status.dataset.testid = "conversation-status";
  agent.dataset.testid = "conversation-agent";
  const node = el("tr", { "data-testid": "team-conversation" }, customer, channel, status, queue, agent, since, action);
  return {
    node,
    update(c) {
      node.dataset.channel = c.channel_sid;
      node.dataset.status = c.status;
      customer.textContent = c.customer || c.channel_sid;
      channel.replaceChildren(el("span", { class: "pill", text: c.channel_type || "chat" }));
      status.textContent = STATUS_LABELS[c.status] || c.status;
      const q = team.board.queues[c.queue_sid];
      queue.textContent = q ? q.friendly_name : "—";
      const w = team.board.agents[c.worker_sid];
      agent.textContent = w ? w.identity || w.friendly_name : "—";
      since.dataset.since = c.date_created;
      button.setAttribute("aria-label", `Monitor the conversation with ${customer.textContent}`);
      const watching = team.monitored && team.monitored.channel_sid === c.channel_sid;
      button.setAttribute("aria-pressed", String(!!watching));
      button.textContent = watching ? "Monitoring" : "Monitor";
    },
  };
}

// Waits count up on the page between updates (the board changes only when tasks do).
function tickTeam() {
  if (!team.built || !team.visible) return;
  const now = Date.now();
  for (const node of $("team").querySelectorAll("[data-since]")) {
    const since = Date.parse(node.dataset.since);
    node.textContent = Number.isNaN(since) ? "—" : formatWait((now - since) / 1000);
  }
}

// ---- Monitoring and the supervisor's actions ------------------------------------------------------

async function monitor(channelSid) {
  if (!channelSid) return;
  const same = team.monitored && team.monitored.channel_sid === channelSid;
  if (team.monitored && !same) command("unmonitor", { channel_sid: team.monitored.channel_sid }, { quiet: true }).catch(() => {});
  team.monitored = { channel_sid: channelSid, indices: new Set() };
  team.monitor.log.replaceChildren();
  renderMonitor();
  try {
    await command("monitor", { channel_sid: channelSid });
    const page = await command("history", { channel_sid: channelSid, limit: HISTORY_PAGE });
    if (!team.monitored || team.monitored.channel_sid !== channelSid) return;
    for (const message of page.messages || []) addMonitored(message);
  } catch (err) {
    /* shown */
  }
  render();
  team.monitor.log.focus();
}

function stopMonitor() {
  if (!team.monitored) return;
  command("unmonitor", { channel_sid: team.monitored.channel_sid }, { quiet: true }).catch(() => {});
  team.monitored = null;
  render();
  $("team-title").focus();
}

function addMonitored(data) {
  const monitored = team.monitored;
  if (!monitored || monitored.indices.has(data.index)) return;
  monitored.indices.add(data.index);
  const agents = Object.values(team.board.agents);
  const byAgent = agents.some((a) => a.identity === data.from || a.friendly_name === data.from);
  // The customer by the name the conversation shows, not the channel's generated identity.
  const from = byAgent || !monitored.customer ? data.from : monitored.customer;
  const node = el("li", { class: `team-message ${byAgent ? "from-agent" : "from-customer"}`, "data-testid": "team-monitor-message", "data-index": data.index },
    el("span", { class: "team-message-meta" },
      el("span", { class: "team-message-from", text: from || "" }),
      el("time", { datetime: data.date_created || "", text: formatTime(data.date_created) })),
    el("span", { class: "team-message-body", "data-testid": "team-monitor-body", text: data.body || (data.media && data.media.length ? "(attachment)" : "") }));
  const log = team.monitor.log;
  const after = [...log.children].find((child) => Number(child.dataset.index) > data.index);
  log.insertBefore(node, after || null);
  log.scrollTop = log.scrollHeight;
}

function liveTask(channelSid) {
  return Object.values(team.board.conversations).find((c) => c.channel_sid === channelSid && c.status === "assigned");
}

function renderMonitor() {
  const { node, title, target, transfer } = team.monitor;
  const monitored = team.monitored;
  node.hidden = !monitored;
  if (!monitored) return;
  // The conversation's current task: a transferred one wraps up beside the task that follows it.
  const rows = Object.values(team.board.conversations).filter((c) => c.channel_sid === monitored.channel_sid);
  const row = rows.find((c) => c.status !== "wrapping") || rows[rows.length - 1];
  if (row && row.customer) monitored.customer = row.customer;
  const who = monitored.customer || monitored.channel_sid;
  const agent = row && team.board.agents[row.worker_sid];
  title.textContent = `Monitoring ${who}${agent ? ` with ${agent.identity || agent.friendly_name}` : ""}`;
  const task = liveTask(monitored.channel_sid);
  if (document.activeElement !== target) {
    const chosen = target.value;
    const queues = Object.values(team.board.queues).map((q) => el("option", { value: `queue:${q.sid}`, text: `Queue: ${q.friendly_name}` }));
    const agents = Object.values(team.board.agents)
      .filter((a) => a.available && (!task || a.sid !== task.worker_sid))
      .map((a) => el("option", { value: `worker:${a.sid}`, text: `Agent: ${a.identity || a.friendly_name}` }));
    target.replaceChildren(...queues, ...agents);
    if ([...target.options].some((o) => o.value === chosen)) target.value = chosen;
  }
  transfer.disabled = !task || !target.value;
  transfer.title = task ? "" : "Only a conversation with an agent can be transferred";
}

async function transferMonitored() {
  const monitored = team.monitored;
  const task = monitored && liveTask(monitored.channel_sid);
  const [kind, sid] = team.monitor.target.value.split(":");
  if (!task || !sid) return;
  const label = team.monitor.target.selectedOptions[0] ? team.monitor.target.selectedOptions[0].textContent : sid;
  team.monitor.transfer.disabled = true;
  try {
    await command("transfer", { task_sid: task.task_sid, [kind === "queue" ? "to_queue_sid" : "to_worker_sid"]: sid });
    announce(`Transfer requested: ${monitored.customer || "the conversation"} to ${label.replace(/^(Queue|Agent): /, "")}.`);
  } catch (err) {
    /* shown */
  } finally {
    renderMonitor();
  }
}

async function changeActivity(workerSid, select) {
  const agent = team.board.agents[workerSid];
  try {
    const result = await command("set_activity", { worker_sid: workerSid, activity: select.value });
    announce(`${agent ? agent.identity || agent.friendly_name : "The agent"} is now ${result.activity_name}.`);
  } catch (err) {
    if (agent) select.value = agent.activity_sid;
  }
}
