/* The desk's settings and its one state object, shared by every module. */

export const PROTOCOL = "switchboard.agent.v1";
export const SESSION_KEY = "switchboard.desk.session";
export const DEV_OFF_KEY = "switchboard.desk.devSignInOff";
export const BASE_TITLE = "Switchboard · Agent desk";
export const TYPING_SEND_EVERY_MS = 2000;
export const TYPING_SHOWN_MS = 4000;
export const HISTORY_PAGE = 50;
export const IDENTITY = /^[A-Za-z0-9_.@-]{1,64}$/;
// Only useful on a live socket: never queued for the next connection.
export const EPHEMERAL = new Set(["typing", "renew"]);
export const FINISHED = new Set(["completed", "canceled"]);
// A task only moves forward: an older report never undoes a newer one.
export const TASK_RANK = { pending: 0, reserved: 1, assigned: 2, wrapping: 3, completed: 4, canceled: 4 };
// SMS, WhatsApp and Messenger report how far a message got (message.status); web chats report reads.
export const DELIVERY_LABELS = { queued: "Queued", sending: "Sending", sent: "Sent", delivered: "Delivered", read: "Read" };
export const DELIVERY_RANK = { queued: 0, sending: 1, sent: 2, delivered: 3, read: 4, failed: 5, undelivered: 5 };
export const COMMAND_LABELS = {
  accept: "accept the request", reject: "reject the request", wrapup: "wrap up", complete: "complete the task",
  send_message: "send the message", set_activity: "change your activity", transfer: "transfer the conversation",
  history: "load the messages", directory: "load the directory", channel_info: "load the conversation",
  add_note: "add the note",
};

export const $ = (id) => document.getElementById(id);

export const state = {
  session: null, // {token, expires_at, ttl, identity, worker_sid}
  link: null, // the session's ResumableSocket
  renewal: null, // the session's TokenRenewal
  picks: 0, // conversations the agent opened: an accept answered later must not take over
  worker: { sid: null, activity_sid: null, available: false },
  directory: { queues: [], workers: [], activities: [], flexFlows: [] },
  startedTasks: new Set(), // tasks of conversations this agent started: accepted on arrival
  reservations: new Map(), // reservation sid -> {data, node, wait, buttons, receivedAt}
  conversations: new Map(), // channel sid -> conversation (see newConversation)
  selected: null, // the channel sid shown in the main area
  nodes: new Map(), // message index -> node, for the selected conversation only
  atEnd: true, // the log follows the newest message; false once the agent scrolls up to read
  autoScrollTop: null, // where the desk last scrolled the log to on its own
  typingSentAt: 0,
  typingTimer: 0,
  flashTimer: 0,
};
