"""The pages the API serves: the web chat widget (``/webchat/webchat.js``), its demo page
(``/demo/``), the agent desk (``/desk/``), the landing page (``/``) and their icon. Plain files, no build:
the widget is served as one script with the shared resumable socket put before it."""

import hashlib
import re
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
WEBCHAT_DIR = STATIC_DIR / "webchat"
DESK_DIR = STATIC_DIR / "desk"
SHARED_DIR = STATIC_DIR / "shared"
RESUMABLE_SOCKET = SHARED_DIR / "resumable-socket.js"
DEMO_PAGE = STATIC_DIR / "demo" / "index.html"
LANDING_PAGE = STATIC_DIR / "index.html"
FAVICON = STATIC_DIR / "favicon.svg"


@cache
def webchat_script() -> str:
    """The widget as embedded: the shared resumable socket (an ES module, its exports made plain
    declarations) and the widget, in one function scope so the embedding page gains no names."""
    shared = re.sub(r"^export ", "", RESUMABLE_SOCKET.read_text(), flags=re.MULTILINE)
    widget = (WEBCHAT_DIR / "webchat.js").read_text()
    return f'(() => {{\n"use strict";\n\n{shared}\n{widget}}})();\n'


@cache
def webchat_etag() -> str:
    """The served widget's entity tag: a page that embeds it revalidates instead of fetching it again."""
    return '"' + hashlib.sha256(webchat_script().encode()).hexdigest()[:32] + '"'
