"""The benchmark's own processes as Linux's /proc sees them: which child is the Temporal dev server,
which the API and the worker, their resident memory and CPU time (no extra dependency)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    pid: int
    role: str  # "temporal", "api", "worker" or "bench" (this process)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def cpu_seconds(self) -> float:
        # utime and stime are fields 14 and 15; the command name (field 2) may hold spaces.
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def role_of(cmdline: list[str]) -> str | None:
    words = [Path(word).name for word in cmdline]
    if "start-dev" in words:
        return "temporal"
    if "switchboard" in words:
        after = words[words.index("switchboard") + 1 :]
        if after and after[0] in ("api", "worker"):
            return after[0]
    return None


def bench_processes() -> list[Proc]:
    """This process and its children that are part of the stack, in pid order."""
    found = [Proc(os.getpid(), "bench")]
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            cmdline = (entry / "cmdline").read_text().split("\0")
        except OSError:
            continue  # gone meanwhile
        role = role_of(cmdline) if parent == me else None
        if role is not None:
            found.append(Proc(int(entry.name), role))
    return sorted(found, key=lambda p: p.pid)


def one(role: str) -> Proc:
    return next(p for p in bench_processes() if p.role == role)


def cpu_shares(before: dict[Proc, float], after: dict[Proc, float], seconds: float) -> str:
    """Each process's CPU use between two samples, in % of one core."""
    parts = []
    for proc, spent in after.items():
        parts.append(f"{proc.role} {100 * (spent - before.get(proc, 0.0)) / seconds:.0f} %")
    return ", ".join(parts)


def cpu_sample() -> dict[Proc, float]:
    return {p: p.cpu_seconds() for p in bench_processes()}


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def file_size(path: Path) -> int:
    """A SQLite database's size with its write-ahead log."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
