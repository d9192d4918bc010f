/* Small helpers: building elements (text only, never HTML), formats, errors, announcements. */

import { $, state } from "./state.js";

// Builds an element; "text" becomes textContent (never HTML), "on" adds listeners.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "on") for (const [type, fn] of Object.entries(value)) node.addEventListener(type, fn);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

export const me = () => (state.session ? state.session.identity : "");

export function formatWait(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// As the browser writes times (12- or 24-hour), as the widget does for the customer: each person
// reads their own clock.
export function formatTime(iso) {
  const date = iso ? new Date(iso) : new Date();
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024) return `${bytes} B`;
  return bytes < 1024 * 1024 ? `${Math.round(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// crypto.randomUUID exists only in secure contexts; getRandomValues everywhere.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// An HTTP error's message: Twilio's shape ({message}) or FastAPI's validation shape ({detail}).
export async function errorText(response) {
  const body = await response.json().catch(() => ({}));
  const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
  return body.message || detail || `${response.status} ${response.statusText}`.trim();
}

export function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

export function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

// Screen readers hear the text even when it repeats (the region is emptied first).
export function announce(message) {
  $("announcer").textContent = "";
  setTimeout(() => ($("announcer").textContent = message), 50);
}

export function setStatus(text, kind) {
  $("status").textContent = text;
  $("status").dataset.state = kind;
}

// sessionStorage may be unavailable (privacy modes): the desk then lasts as long as the page.
export function stored(key, value) {
  try {
    if (value === undefined) return sessionStorage.getItem(key);
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch (err) {
    /* not kept */
  }
  return null;
}
