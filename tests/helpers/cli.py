"""``switchboard dev`` run as an operator runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.stack import SWITCHBOARD, free_port


def read_until(process: subprocess.Popen[str], text: str, timeout: float = 90) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        assert time.monotonic() < deadline, seen
        line = process.stdout.readline()
        assert line or process.poll() is None, f"exited {process.returncode}: {seen}"
        seen += line
    return seen


@dataclass
class DevRun:
    """A running ``switchboard dev``: what it printed up to "Press Ctrl-C", and its secrets."""

    output: str
    api_url: str
    secrets: dict[str, Any]

    def line(self, label: str) -> str:
        [found] = [line for line in self.output.splitlines() if line.startswith(label)]
        return found

    def url_after(self, label: str) -> str:
        return self.line(label).split()[len(label.split())]

    @property
    def auth(self) -> tuple[str, str]:
        return self.secrets["account_sid"], self.secrets["auth_token"]

    def get(self, path: str) -> Any:
        answer = httpx.get(f"{self.api_url}{path}", auth=self.auth)
        assert answer.status_code == 200, answer.text
        return answer.json()


@contextlib.contextmanager
def switchboard_dev(data_dir: Path, *flags: str) -> Iterator[DevRun]:
    """``switchboard dev`` on free ports, as an operator starts it; stopped with Ctrl-C after."""
    api, temporal, ui = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [SWITCHBOARD, "dev", "--port", str(api), "--temporal-port", str(temporal), "--ui-port", str(ui), *flags],
        env={**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = read_until(process, "Press Ctrl-C")
        yield DevRun(output, f"http://127.0.0.1:{api}", json.loads((data_dir / "secrets.json").read_text()))
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
