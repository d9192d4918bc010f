"""The pages the API serves: the web chat widget (``/webchat/webchat.js``), its demo page
(``/demo/``), the agent desk (``/desk/``), the landing page (``/``) and their icon. Plain files, no build."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
WEBCHAT_DIR = STATIC_DIR / "webchat"
DESK_DIR = STATIC_DIR / "desk"
DEMO_PAGE = STATIC_DIR / "demo" / "index.html"
LANDING_PAGE = STATIC_DIR / "index.html"
FAVICON = STATIC_DIR / "favicon.svg"
