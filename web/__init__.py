"""Static pages served by the API (demo page; the widget and agent desk live here too)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
