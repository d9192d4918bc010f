/* Media fetched with the bearer token and shown as blob: URLs. */

import { el, errorText, formatSize, showError } from "./helpers.js";
import { state } from "./state.js";

export const mediaUrls = new Map(); // media sid -> Promise of a blob: URL (or null)

// The bearer token must never travel to another origin, whatever a message says.
function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch (err) {
    return false;
  }
}

function mediaBlobUrl(media) {
  if (!mediaUrls.has(media.sid)) {
    const loading = (async () => {
      if (!media.url || !sameOrigin(media.url)) return null;
      const response = await fetch(media.url, { headers: { Authorization: `Bearer ${state.session.token}` } });
      if (!response.ok) throw new Error(await errorText(response));
      const blob = await response.blob();
      // Anything but an image is kept as opaque bytes, so a blob: URL never renders as a page.
      const safe = /^image\//.test(blob.type) ? blob : new Blob([blob], { type: "application/octet-stream" });
      return URL.createObjectURL(safe);
    })();
    loading.catch(() => mediaUrls.delete(media.sid));
    mediaUrls.set(media.sid, loading);
  }
  return mediaUrls.get(media.sid);
}

export function mediaNode(media) {
  const name = String(media.filename || "attachment");
  const size = formatSize(media.size);
  if (/^image\//.test(media.content_type || "")) {
    const image = el("img", { class: "msg-image", alt: name });
    mediaBlobUrl(media).then((url) => url && (image.src = url),
      () => image.replaceWith(el("span", { class: "msg-file", text: `${name} (could not be loaded)` })));
    return image;
  }
  return el("button", {
    type: "button", class: "secondary msg-download", text: `Download ${name}${size ? ` (${size})` : ""}`,
    on: { click: () => download(media, name) },
  });
}

async function download(media, name) {
  try {
    const url = await mediaBlobUrl(media);
    if (url) el("a", { href: url, download: name }).click();
  } catch (err) {
    showError(`${name} could not be downloaded: ${err.message}`);
  }
}
