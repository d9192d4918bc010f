/*
 * Switchboard's resumable socket: the one client of the agent socket (/v1/agent/ws, used by the
 * desk) and the customer socket (/v1/customer/ws, used by the web chat widget). Protocols:
 * docs/agent-socket.md and docs/customer-socket.md.
 *
 * It keeps the last event sequence it saw and reconnects after any drop with `resume_after`, so
 * nothing is missed; it backs off 0.5 to 10 seconds with jitter, so a restarted server is not
 * stampeded; it answers each command with its result or error; and it renews the access token at
 * 80% of its life, handing the fresh one to the open socket (`renew`). A command still unanswered
 * when the socket drops either waits for the next connection and goes again, or fails as lost:
 * the owner's `resends` says which.
 *
 * Plain ES, no build step. The desk imports it as a module; the API serves the widget with this
 * file inlined (its `export`s bare), so the widget stays one script to embed.
 */

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const REFRESH_AT = 0.8; // of a token's life
const REFRESH_RETRY_MS = 15000;

/** A command's failure: the server's `error` frame (its code), or lost (code 0: never answered). */
export class CommandError extends Error {
  constructor(code, message, { lost = false, resent = false } = {}) {
    super(message);
    this.code = code;
    this.lost = lost;
    this.resent = resent; // sent again after a reconnect: it may have worked the first time
  }
}

const lostCommand = (message) => new CommandError(0, message, { lost: true });

/**
 * One session's socket. Options:
 *   url(resumeAfter): the socket's address (resumeAfter: the last sequence seen, or null);
 *   protocol: the subprotocol; token(): the access token, read at each connect (it rides in the
 *   subprotocol list, never in the URL: URLs end up in logs); idPrefix: of command ids;
 *   resends(command): whether that command waits for the next connection while the socket is away;
 *   onConnecting(reconnecting), onConnectFailed(error), onReady(frame), onEvent(frame),
 *   onStrayError(frame) (an error answering no command);
 *   onClosed(event, usedToken): "stop" (no reconnect), "now" (reconnect at once) or nothing (back off).
 */
export class ResumableSocket {
  constructor(options) {
    this.o = { onConnecting() {}, onConnectFailed() {}, onStrayError() {}, resends: () => false, ...options };
    this.socket = null;
    this.ready = false; // the current socket has said `ready`: commands may go
    this.everReady = false;
    this.closed = false; // closed by its owner: never reconnects
    this.last = null; // the last event sequence seen: where a reconnect resumes
    this.backoff = BACKOFF_MIN_MS;
    this.reconnectTimer = 0;
    this.nextId = 0;
    this.waiting = new Map(); // command id -> {frame, resolve, reject, sent, resent}
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    if (this.closed || this.socket) return;
    this.o.onConnecting(this.everReady);
    const token = this.o.token();
    const resume = this.last !== null ? `?resume_after=${encodeURIComponent(this.last)}` : "";
    let socket;
    try {
      socket = new WebSocket(this.o.url(resume), [this.o.protocol, `access_token.${token}`]);
    } catch (err) {
      this.o.onConnectFailed(err);
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.ready = false;
    socket.addEventListener("message", (event) => this.socket === socket && this.onFrame(event.data));
    socket.addEventListener("close", (event) => this.socket === socket && this.onClose(event, token));
  }

  /** Ends this session's socket for good: whatever waits for an answer fails as lost. */
  close(reason) {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    if (socket) socket.close(1000, reason);
    for (const entry of this.waiting.values()) entry.reject(lostCommand(reason || "the connection was lost"));
    this.waiting.clear();
  }

  /** Sends a command; resolves with its result's data, rejects with a CommandError. */
  command(name, fields = {}) {
    const frame = { ...fields, type: "command", id: `${this.o.idPrefix}${++this.nextId}`, command: name };
    return new Promise((resolve, reject) => {
      const open = this.ready && this.socket.readyState === WebSocket.OPEN;
      if (this.closed || (!open && !this.o.resends(name))) return reject(lostCommand("not connected"));
      const entry = { frame, resolve, reject, sent: false, resent: false };
      this.waiting.set(frame.id, entry);
      if (this.ready) this.transmit(entry);
    });
  }

  /** Hands a fresh token to the open socket: it carries on past the old one's expiry. */
  renew(token) {
    this.command("renew", { token }).catch(() => {});
  }

  transmit(entry) {
    entry.resent = entry.sent;
    entry.sent = true;
    try {
      this.socket.send(JSON.stringify(entry.frame));
    } catch (err) {
      /* the socket is going: a command that resends goes again after the reconnect */
    }
  }

  onClose(event, token) {
    this.socket = null;
    this.ready = false;
    for (const [id, entry] of this.waiting) {
      if (this.o.resends(entry.frame.command)) continue;
      this.waiting.delete(id);
      entry.reject(lostCommand("the connection was lost"));
    }
    if (this.closed) return;
    const next = this.o.onClosed(event, token);
    if (next !== "stop") this.scheduleReconnect(next === "now" ? 0 : undefined);
  }

  // Exponential backoff with jitter.
  scheduleReconnect(delay) {
    clearTimeout(this.reconnectTimer);
    if (this.closed) return;
    const wait = delay !== undefined ? delay
      : Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_MIN_MS, this.backoff * (0.6 + Math.random() * 0.8)));
    this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
    this.reconnectTimer = setTimeout(() => this.connect(), wait);
  }

  onFrame(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch (err) {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (frame.type === "ready") this.onReady(frame);
    else if (frame.type === "event") this.onEvent(frame);
    else if (frame.type === "result" || frame.type === "error") this.settle(frame);
  }

  onReady(frame) {
    this.ready = true;
    this.everReady = true;
    this.backoff = BACKOFF_MIN_MS;
    if (typeof frame.sequence === "number") this.last = frame.sequence;
    // Commands unanswered on the previous socket go again, in their order (send_message carries
    // its idempotency key: the server stores the message once).
    for (const entry of this.waiting.values()) this.transmit(entry);
    this.o.onReady(frame);
  }

  onEvent(frame) {
    if (typeof frame.sequence === "number") {
      if (this.last !== null && frame.sequence <= this.last) return; // seen already
      this.last = frame.sequence;
    }
    this.o.onEvent(frame);
  }

  settle(frame) {
    const entry = frame.id !== undefined && frame.id !== null ? this.waiting.get(frame.id) : undefined;
    if (!entry) {
      if (frame.type === "error") this.o.onStrayError(frame);
      return;
    }
    this.waiting.delete(frame.id);
    if (frame.type === "result") return entry.resolve(frame.data || {});
    const message = frame.message || `error ${frame.code}`;
    entry.reject(new CommandError(frame.code, message, { resent: entry.resent }));
  }
}

/**
 * Renews a session's token at 80% of its life (POST {url}, the token as bearer), and again soon
 * after a passing failure while the token is still good. Options: url; refused(status): whether
 * that answer ends the session; onRefused(response); onRenewed(session), once the session holds
 * the fresh token.
 */
export class TokenRenewal {
  constructor(session, options) {
    this.session = session; // {token, expires_at, ttl}: updated in place
    this.o = options;
    this.timer = 0;
    this.stopped = false;
  }

  schedule(delay) {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (delay === undefined) {
      const left = Date.parse(this.session.expires_at) - Date.now();
      const life = (Number(this.session.ttl) || Math.max(0, left / 1000)) * 1000;
      delay = Math.max(1000, left - life * (1 - REFRESH_AT));
    }
    this.timer = setTimeout(() => this.refresh(), Math.min(delay, 2 ** 31 - 1));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async refresh() {
    const session = this.session;
    let fresh;
    try {
      const response = await fetch(this.o.url, { method: "POST", headers: { Authorization: `Bearer ${session.token}` } });
      if (this.stopped) return;
      if (this.o.refused(response.status)) return this.o.onRefused(response);
      fresh = response.ok ? await response.json() : null;
    } catch (err) {
      fresh = null;
    }
    if (this.stopped) return;
    if (!fresh || !fresh.token) return this.schedule(REFRESH_RETRY_MS);
    Object.assign(session, { token: fresh.token, expires_at: fresh.expires_at, ttl: fresh.ttl || session.ttl });
    this.o.onRenewed(session);
    this.schedule();
  }
}
