/*
 * Canned responses in the composer: typing "/" and a few letters (at the start of the reply or
 * after a space) opens a list of the workspace's ready answers (the agent socket's
 * `canned_responses`: the workspace's and the agent's queues'). It is the ARIA combobox pattern:
 * the reply box is the combobox, the list a listbox; Up and Down move through it, Enter or Tab
 * takes the highlighted answer, Escape closes it, a click takes one.
 *
 * The answer replaces the "/shortcut" typed, with its placeholders filled by plain substitution of
 * the names the desk knows (PLACEHOLDERS); any other {{ }} stays as written, to be seen and edited.
 * Nothing in a body is ever run or parsed as HTML: the list shows it as text.
 */

import { customerName, selectedConversation } from "./conversation.js";
import { announce, el, me } from "./helpers.js";
import { command } from "./socket.js";
import { $, state } from "./state.js";

const SHOWN = 8;
const FRESH_MS = 60_000;
// "/gre" just before the caret, at the start of the reply or after whitespace.
const TYPED = /(^|\s)\/([A-Za-z0-9_-]{0,32})$/;
const PLACEHOLDER = /\{\{\s*([A-Za-z_]+(?:\.[A-Za-z_]+)*)\s*\}\}/g;

const canned = {
  responses: [],
  loadedAt: 0,
  loading: null,
  shown: [], // the responses listed now
  active: -1, // the highlighted one
  start: -1, // where the typed "/shortcut" begins in the reply
};

export function setupCanned() {
  const input = $("input");
  const list = el("ul", {
    id: "canned-list", class: "canned-list", role: "listbox", "aria-label": "Canned responses", "data-testid": "desk-canned-list", hidden: true,
  });
  $("composer").append(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "canned-list");
  input.setAttribute("aria-expanded", "false");
  input.addEventListener("input", () => refresh());
  // Close when the agent has moved on, not when a re-render took focus for a moment (a slow
  // page); coming back to the reply box shows the suggestions for what it holds again.
  input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) close(); }, 150));
  input.addEventListener("focus", () => refresh());
  // Before the composer's own keys (Enter sends): the form sees them first.
  $("composer").addEventListener("keydown", onKey, true);
}

function first(text) {
  return String(text || "").trim().split(/\s+/)[0] || "";
}

function agentName() {
  const mine = state.directory.workers.find((w) => w.identity === me()) || {};
  return String(mine.display_name || mine.friendly_name || me());
}

/** The body with the placeholders the desk knows filled in; the rest left as written. */
export function fillPlaceholders(body, conv) {
  const customer = conv ? customerName(conv) : "";
  const values = {
    "customer.name": customer, "customer.first_name": first(customer),
    "agent.name": agentName(), "agent.first_name": first(agentName()),
  };
  return String(body).replace(PLACEHOLDER, (whole, name) => (Object.hasOwn(values, name) && values[name] ? values[name] : whole));
}

async function load() {
  if (Date.now() - canned.loadedAt < FRESH_MS) return;
  canned.loading = canned.loading || command("canned_responses", {}, { quiet: true }).then((data) => {
    canned.responses = data.canned_responses || [];
    canned.loadedAt = Date.now();
  }).finally(() => (canned.loading = null));
  await canned.loading.catch(() => {});
}

async function refresh() {
  const input = $("input");
  const before = input.value.slice(0, input.selectionStart);
  const typed = TYPED.exec(before);
  if (!typed || !selectedConversation()) return close();
  canned.start = typed.index + typed[1].length;
  await load();
  const query = typed[2].toLowerCase();
  canned.shown = canned.responses
    .filter((r) => r.shortcut.startsWith(query) || r.friendly_name.toLowerCase().includes(query))
    .slice(0, SHOWN);
  if (!canned.shown.length) return close();
  render(0);
}

function render(active) {
  const list = $("canned-list");
  canned.active = active;
  list.replaceChildren(...canned.shown.map((r, n) => el("li", {
    id: `canned-option-${n}`, class: "canned-option", role: "option", "aria-selected": String(n === active), "data-testid": "desk-canned-option",
    on: { mousedown: (event) => event.preventDefault(), click: () => choose(n) },
  }, el("span", { class: "canned-shortcut", text: `/${r.shortcut}` }), el("span", { class: "canned-name", text: r.friendly_name }),
  el("span", { class: "canned-preview", text: r.body }))));
  const opening = list.hidden;
  list.hidden = false;
  $("input").setAttribute("aria-expanded", "true");
  $("input").setAttribute("aria-activedescendant", `canned-option-${active}`);
  const option = $(`canned-option-${active}`);
  if (option) option.scrollIntoView({ block: "nearest" });
  if (opening) announce(`${canned.shown.length} canned ${canned.shown.length === 1 ? "response" : "responses"}: Up and Down to choose, Enter to insert.`);
}

function close() {
  const list = $("canned-list");
  if (!list || list.hidden) return;
  list.hidden = true;
  list.replaceChildren();
  canned.shown = [];
  canned.active = -1;
  $("input").setAttribute("aria-expanded", "false");
  $("input").removeAttribute("aria-activedescendant");
}

function choose(n) {
  const response = canned.shown[n];
  if (!response) return;
  const input = $("input");
  const caret = input.selectionStart;
  const text = fillPlaceholders(response.body, selectedConversation());
  input.value = input.value.slice(0, canned.start) + text + input.value.slice(caret);
  const end = canned.start + text.length;
  close();
  input.focus();
  input.setSelectionRange(end, end);
  announce(`Inserted ${response.friendly_name}.`);
}

function onKey(event) {
  if (event.target !== $("input") || $("canned-list").hidden || !canned.shown.length) return;
  const count = canned.shown.length;
  const moves = { ArrowDown: 1, ArrowUp: -1 };
  if (event.key in moves) render((canned.active + moves[event.key] + count) % count);
  else if ((event.key === "Enter" && !event.shiftKey && !event.isComposing) || event.key === "Tab") choose(canned.active);
  else if (event.key === "Escape") close();
  else return;
  event.preventDefault();
  event.stopPropagation();
}
