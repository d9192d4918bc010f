"""Smoke test of the benchmarks in bench/: each runs end to end at a tiny size (its own dev server
and stack), prints its figures and finds every message stored once, in order."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Each starts its own stack; run side by side, the test takes as long as the slowest.
RUNS = {
    "idle_channels": ["--channels", "20", "--probe", "3"],
    "long_history": ["--messages", "60"],
    "multiprocess_throughput": ["--channels", "3", "--messages", "5"],
    "history_cost": ["--channels", "2", "--messages", "3", "--pace", "0.2", "--external"],
    "store_appends": ["--channels", "5", "--messages", "3"],
    "webhook_queries": [],
    "statistics_times": ["--tasks", "20"],
}


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"bench.{name}", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, args in RUNS.items()
    }
    found = {}
    for name, process in running.items():
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, f"bench.{name} failed:\n{out[-3000:]}"
        found[name] = out
    return found


def figure(out: str, label: str) -> float:
    """The first number printed after ``label``."""
    match = re.search(re.escape(label) + r"\D*?([\d.]+)", out)
    assert match is not None, f"{label!r} is not in:\n{out}"
    return float(match.group(1))


def test_idle_channels(outputs: dict[str, str]) -> None:
    out = outputs["idle_channels"]
    assert "20 open channels" in out
    assert figure(out, "opened") > 0
    assert figure(out, "RSS with them open") > 0
    assert figure(out, "database files       store") > 0
    assert figure(out, "webhook while open") > 0
    assert figure(out, "raw: 20 idle workflows started at") > 0
    assert "lost / duplicated    0 / 0" in out


def test_long_history(outputs: dict[str, str]) -> None:
    out = outputs["long_history"]
    assert "with 60 messages" in out
    assert figure(out, "workflow runs") == 1
    for label in ("agent socket history", "REST first page", "REST last page", "REST full export", "raw signals"):
        assert figure(out, label) > 0
    assert "lost / duplicated    0 / 0" in out


def test_multiprocess_throughput(outputs: dict[str, str]) -> None:
    out = outputs["multiprocess_throughput"]
    assert figure(out, "one process          accepted") > 0
    assert figure(out, "2 API + 2 workers    accepted") > 0
    assert figure(out, "ratio multi / single") > 0
    assert figure(out, "raw signal-with-start") > 0
    assert "lost / duplicated    0 / 0 in both" in out


def test_history_cost(outputs: dict[str, str]) -> None:
    out = outputs["history_cost"]
    assert "2 channels x 3 messages" in out
    # Every stored message costs its channel workflow at least a signal and a store append.
    assert figure(out, "channel workflows") >= 1
    assert figure(out, "raw signal-with-start") > 0
    assert "external, loopback endpoint" in out


def test_store_appends(outputs: dict[str, str]) -> None:
    out = outputs["store_appends"]
    assert "5 channels x 3 messages" in out
    assert figure(out, "stored") > 0
    # Five channels appending at once share transactions: fewer than one per message.
    assert 0 < figure(out, "transactions") < 1
    assert "lost / duplicated    0 / 0" in out


def test_webhook_queries(outputs: dict[str, str]) -> None:
    out = outputs["webhook_queries"]
    # The Flex Flow, the contact and their channel once (cached until they change); and on every
    # message three that are not cached yet: the bound-participant lookup (a Conversations SMS
    # participant has the pair first), the channel row and the webhook configurations its
    # Conversations pre- and post-events are read from.
    assert figure(out, "contact's 1st message") == 3 + 3
    assert figure(out, "contact's 2nd message") == figure(out, "contact's 3rd message") == 3
    assert figure(out, "another contact's 1st") == 2 + 3
    assert figure(out, "of which Switchboard's middlewares:") == 5
    assert "middleware all 5" in out


def test_statistics_times(outputs: dict[str, str]) -> None:
    out = outputs["statistics_times"]
    assert "20 tasks in the window" in out
    # The own time fields cost statements of their own, and ranking in SQL costs more of them.
    served, without, in_sql = (figure(out, label) for label in ("as served", "without the own fields", "in SQL"))
    assert served > 0 and without > 0 and in_sql > 0
    statements = {
        label: int(re.findall(r"(\d+) statements", line)[0])
        for label in ("as served", "without", "in SQL")
        for line in out.splitlines()
        if label in line
    }
    assert statements["without"] < statements["as served"] < statements["in SQL"]
