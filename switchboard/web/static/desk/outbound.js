/* Starting a conversation (SMS, WhatsApp, Messenger) from the desk. */

import { announce, el, newKey, showError } from "./helpers.js";
import { acceptStarted } from "./offers.js";
import { command } from "./socket.js";
import { $, state } from "./state.js";

export function openOutbound() {
  const flows = state.directory.flexFlows || [];
  $("outbound-flow").replaceChildren(...flows.map((f) =>
    el("option", { value: f.sid, text: `${f.channel_type} · ${f.friendly_name}${f.contact_identity ? ` (${f.contact_identity})` : ""}` })));
  if (!flows.length) return showError("No SMS, WhatsApp or Messenger Flex Flow to start a conversation on.");
  $("outbound").hidden = false;
  $("outbound-to").focus();
}

export function closeOutbound() {
  $("outbound").hidden = true;
  showOutboundError("");
  $("outbound-open").focus();
}

// The form's own refusal line: the agent reads why nothing was sent where it is looking.
function showOutboundError(text) {
  $("outbound-error").textContent = text;
  $("outbound-error").hidden = !text;
}

// One key per conversation being started: the same start sent again (a retry after a refusal or
// a lost answer, a double click) is taken once by the server, so the customer gets one text.
const outbound = { key: null, fields: null, busy: false };

export async function startOutbound(event) {
  event.preventDefault();
  if (outbound.busy) return;
  const form = $("outbound");
  const fields = {
    flex_flow_sid: $("outbound-flow").value,
    to: $("outbound-to").value.trim(),
    body: $("outbound-body").value.trim(),
  };
  const name = $("outbound-name").value.trim();
  if (name) fields.customer_name = name;
  if (!fields.to || !fields.body) return;
  const same = JSON.stringify(fields);
  if (outbound.fields !== same) Object.assign(outbound, { key: newKey(), fields: same });
  showOutboundError("");
  outbound.busy = true;
  $("outbound").querySelector("[type=submit]").disabled = true;
  let started;
  try {
    started = await command("start_conversation", { ...fields, key: outbound.key }, { quiet: true });
  } catch (err) {
    showOutboundError(`Not started: ${err.message || "refused"}`);
    return;
  } finally {
    outbound.busy = false;
    $("outbound").querySelector("[type=submit]").disabled = false;
  }
  Object.assign(outbound, { key: null, fields: null });
  form.reset();
  form.hidden = true;
  if (started.task_sid) {
    state.startedTasks.add(started.task_sid);
    // The offer may have come before the answer.
    for (const entry of state.reservations.values()) {
      if (entry.data.task_sid === started.task_sid) acceptStarted(entry.data);
    }
  } else announce("Sent. The conversation starts when the customer answers.");
}
