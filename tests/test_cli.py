"""The ``switchboard`` command as an operator runs it: ``dev`` end to end, and ``api`` and
``worker`` as separate processes, including a worker killed in the middle of traffic."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.routes.media import fetch_provider_media
from api.twilio_shape import TwilioError
from switchboard.cli import describe_providers, using_fakes
from switchboard.devstack import DevServer
from switchboard.fake_provider import FakeMeta, FakeTwilio
from switchboard.outbound_http import OutboundPolicy
from switchboard.settings import SECRET_FIELDS, Settings
from tests.helpers.cli import read_until, switchboard_dev
from tests.helpers.flows import QUIZ
from tests.helpers.stack import SWITCHBOARD, Stack, eventually, free_port, new_phone, spawn, test_settings


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_fake_providers_media_passes_the_outbound_policy() -> None:
    """``dev --fake-providers`` serves customers' media from loopback: its settings let the
    outbound policy reach the fakes, and keep what the operator allowed."""
    token = secrets.token_hex(16)
    twilio = FakeTwilio("AC" + secrets.token_hex(16), token).start()
    meta = FakeMeta(secrets.token_hex(16)).start()
    try:
        operator = Settings(twilio_auth_token=token, outbound_allowed_networks="hooks.internal")
        settings = using_fakes(operator, twilio, meta)
        assert OutboundPolicy.parse(settings.outbound_allowed_networks).allows_host("hooks.internal")
        photo = twilio.keep_media(f"/2010-04-01/Accounts/{twilio.account_sid}/Media/ME1", "image/jpeg", b"box")
        meta.keep_meta_media("42", "image/png", b"png")
        assert asyncio.run(fetch_provider_media(settings, photo)) == (b"box", "image/jpeg")
        assert asyncio.run(fetch_provider_media(settings, "meta-media:42")) == (b"png", "image/png")
        without = settings.model_copy(update={"outbound_allowed_networks": operator.outbound_allowed_networks})
        with pytest.raises(TwilioError, match="loopback"):
            asyncio.run(fetch_provider_media(without, photo))
    finally:
        twilio.stop()
        meta.stop()


REPOSITORY = Path(__file__).parent.parent


@pytest.mark.fast
def test_dev_says_which_channels_messages_go_nowhere(tmp_path: Path) -> None:
    """Without provider accounts the desk's New conversation to an SMS number looks sent (it is
    stored) while no customer receives it: the dev stack says so when it starts."""
    bare = test_settings(tmp_path, twilio_account_sid="", meta_access_token="")
    line = describe_providers(bare)
    assert line is not None and line.startswith("Not sent")
    assert "SMS and WhatsApp" in line and "Messenger" in line and "--fake-providers" in line
    twilio_only = bare.model_copy(update={"twilio_account_sid": "AC" + "1" * 32})
    assert "SMS" not in (describe_providers(twilio_only) or "") and "Messenger" in (
        describe_providers(twilio_only) or ""
    )
    both = twilio_only.model_copy(update={"meta_access_token": "token"})
    assert describe_providers(both) is None  # as with --fake-providers


def test_the_dev_scripts_install_step_runs_again_only_for_a_changed_pyproject(tmp_path: Path) -> None:
    """``./scripts/dev`` installs (``scripts/install``) on its first start, quietly, and not again
    until pyproject.toml changes: a second run does not call pip at all."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=True).stdout
    project = tmp_path / "project"
    for name in filter(None, listed.decode().split("\0")):
        if (REPOSITORY / name).is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / name, project / name)
    install = [str(project / "scripts" / "install")]

    first = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    # Quiet: in particular no setuptools warning about the editable install.
    assert "Editable installation" not in first.stdout + first.stderr
    assert (project / ".venv" / "bin" / "switchboard").exists()

    # From now on pip may not run: it would say so in a file and fail.
    pip = project / ".venv" / "bin" / "pip"
    ran = tmp_path / "pip-ran"
    pip.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(ran))}\nexit 1\n')
    second = subprocess.run(install, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and second.stdout + second.stderr == ""
    assert not ran.exists()

    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# a changed dependency, say\n")
    subprocess.run(install, capture_output=True, text=True, timeout=60)
    assert ran.read_text().splitlines()[0] == "install --quiet --upgrade pip"


def test_dev_prints_the_default_sids_and_a_demo_text_that_keeps_the_plus(tmp_path: Path) -> None:
    with switchboard_dev(tmp_path / "data", "--fake-providers") as dev:
        # What a new Flex project has, as the README promises: account, chat service, workspace,
        # Flex Flows and their numbers, each as the API answers it.
        [service] = dev.get("/v2/Services")["services"]
        [workspace] = dev.get("/v1/Workspaces")["workspaces"]
        flows = {flow["channel_type"]: flow for flow in dev.get("/v1/FlexFlows")["flex_flows"]}
        assert dev.secrets["account_sid"] in dev.line("Account")
        assert service["sid"] in dev.line("Chat service")
        assert workspace["sid"] in dev.line("Workspace")
        assert flows["sms"]["sid"] in dev.line("Flex Flows") and flows["web"]["sid"] in dev.line("Flex Flows")
        assert flows["sms"]["contact_identity"] in dev.line("Flex Flows")

        # The printed demo command, run as printed, texts from a number that keeps its "+".
        printed = re.search(r"a customer texts: (.+)\)$", dev.line("Fake Twilio"))
        assert printed is not None, dev.line("Fake Twilio")
        sent = subprocess.run(shlex.split(printed.group(1)), capture_output=True, text=True, timeout=30)
        assert sent.returncode == 0, sent.stderr

        def channel_attributes() -> dict[str, Any]:
            [channel] = dev.get(f"/v2/Services/{service['sid']}/Channels")["channels"]
            return dict(json.loads(channel["attributes"]))

        assert eventually(channel_attributes)["from"] == "+15551230000"


def test_dev_starts_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    api, temporal, ui = free_port(), free_port(), free_port()
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [
            *(SWITCHBOARD, "dev", "--port", str(api), "--temporal-port", str(temporal), "--ui-port", str(ui)),
            "--fake-providers",
        ],
        env={**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a terminal's job: Ctrl-C reaches its whole process group
    )
    try:
        output = read_until(process, "Press Ctrl-C")
        assert "Generated a new encryption key" in output
        assert f"http://127.0.0.1:{api}" in output and f"http://127.0.0.1:{ui}" in output
        assert f"http://127.0.0.1:{api}/demo/" in output and f"http://127.0.0.1:{api}/desk/" in output
        secrets = json.loads((data_dir / "secrets.json").read_text())
        assert set(SECRET_FIELDS) <= set(secrets)
        assert oct((data_dir / "secrets.json").stat().st_mode & 0o777) == "0o600"
        health = httpx.get(f"http://127.0.0.1:{api}/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok", "database": "ok", "temporal": "ok"}
        assert httpx.get(f"http://127.0.0.1:{ui}/").status_code == 200
        assert "/webchat/webchat.js" in httpx.get(f"http://127.0.0.1:{api}/demo/").text
        # `switchboard dev` turns the desk's dev sign-in on.
        signed_in = httpx.post(f"http://127.0.0.1:{api}/v1/Desk/DevSignIn", json={"identity": "alice"})
        assert signed_in.status_code == 201 and signed_in.json()["worker_sid"].startswith("WK")
        services = httpx.get(
            f"http://127.0.0.1:{api}/v2/Services", auth=(secrets["account_sid"], secrets["auth_token"])
        )
        assert services.status_code == 200
        # With --fake-providers a demo customer can text the default SMS number.
        fake_twilio = next(line.split()[2] for line in output.splitlines() if line.startswith("Fake Twilio"))
        texted = httpx.post(f"{fake_twilio}/customer/sms", data={"From": new_phone(), "Body": "demo hello"})
        assert texted.status_code == 200, texted.text

        auth = (secrets["account_sid"], secrets["auth_token"])

        def routed() -> None:
            [service] = httpx.get(f"http://127.0.0.1:{api}/v2/Services", auth=auth).json()["services"]
            channels = httpx.get(f"http://127.0.0.1:{api}/v2/Services/{service['sid']}/Channels", auth=auth).json()
            assert [c["messages_count"] for c in channels["channels"]] == [1]
            [space] = httpx.get(f"http://127.0.0.1:{api}/v1/Workspaces", auth=auth).json()["workspaces"]
            tasks = httpx.get(f"http://127.0.0.1:{api}/v1/Workspaces/{space['sid']}/Tasks", auth=auth).json()
            assert [t["assignment_status"] for t in tasks["tasks"]] == ["pending"]

        eventually(routed)
        # The dev server keeps its state in the data dir, in WAL mode.
        assert (data_dir / "temporal.db").exists() and (data_dir / "temporal.db-wal").exists()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
        remaining, _ = process.communicate(timeout=60)
    assert process.returncode == 0, remaining
    assert "Switchboard stopped." in remaining
    # The worker drains before the Temporal dev server stops: no warning of a shutdown cut short.
    assert "WARN" not in remaining and "error" not in remaining.lower(), remaining
    assert not any(port_open(p) for p in (api, temporal, ui))

    # A second start reuses the secrets instead of generating new ones.
    again = subprocess.run(
        [SWITCHBOARD, "dev", "--help"], env={**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir)}, capture_output=True
    )
    assert again.returncode == 0


def test_ctrl_c_reaches_the_temporal_dev_server_only_through_switchboard(temporal_server: DevServer) -> None:
    """A terminal's Ctrl-C signals its whole process group: the dev server runs in a group of its
    own, so it keeps serving while the worker drains, and stops when Switchboard stops it."""
    assert os.getpgid(temporal_server.process.pid) != os.getpgrp()


def test_healthz_is_503_until_temporal_answers(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    settings = test_settings(tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    processes.append(spawn("api", settings.as_environment(), tmp_path / "api.log"))
    url = f"http://127.0.0.1:{settings.api_port}/healthz"

    response = eventually(lambda: _get(url, 200, 503), timeout=60)
    assert response.status_code == 503
    assert response.json()["database"] == "ok" and response.json()["temporal"] != "ok"


def test_healthz_is_503_while_the_database_is_down(
    temporal_server: DevServer, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    closed = free_port()
    settings = test_settings(
        tmp_path, temporal_address=temporal_server.address, database_url=f"postgresql://nobody@127.0.0.1:{closed}/x"
    )
    processes.append(spawn("api", settings.as_environment(), tmp_path / "api.log"))
    url = f"http://127.0.0.1:{settings.api_port}"
    response = eventually(lambda: _get(f"{url}/healthz", 503), timeout=60)
    assert response.json()["database"].startswith("unreachable") and response.json()["temporal"] == "ok"
    # Requests that need the database say so with a retryable status, in Twilio's shape.
    services = httpx.get(f"{url}/v2/Services", auth=(settings.account_sid, settings.auth_token))
    assert services.status_code == 503 and "database" in services.json()["message"]


def _get(url: str, *statuses: int) -> httpx.Response:
    """GET that counts a refused connection (process still starting) as not yet."""
    try:
        response = httpx.get(url)
    except httpx.TransportError as exc:
        raise AssertionError(f"{url}: {exc}") from exc
    assert response.status_code in statuses, response.text
    return response


def api_and_two_workers(
    temporal_server: DevServer, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> tuple[Stack, list[subprocess.Popen[bytes]]]:
    """`switchboard api` and two `switchboard worker` processes, ready; answers a Stack for its
    HTTP helpers only (the processes are the stack) and the workers."""
    settings = test_settings(tmp_path, temporal_address=temporal_server.address, channel_inactivity_seconds=600)
    env = settings.as_environment()
    processes.append(spawn("api", env, tmp_path / "api.log"))
    workers = [spawn("worker", env, tmp_path / f"worker{i}.log") for i in range(2)]
    processes.extend(workers)
    client = Stack(settings)
    eventually(lambda: _get(f"{client.url}/healthz", 200), timeout=60)
    return client, workers


def test_separate_api_and_workers_survive_a_killed_worker(
    temporal_server: DevServer, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Messages keep flowing through `switchboard api` while one of two `switchboard worker`
    processes is killed with SIGKILL: every message is stored exactly once, in order."""
    client, workers = api_and_two_workers(temporal_server, tmp_path, processes)
    customers = [new_phone() for _ in range(10)]
    per_customer = 30
    with client.http() as http:
        service = client.create_service(http)
        flow = client.create_flex_flow(http, service, LongLived="true")
        for i in range(per_customer):
            for customer in customers:
                params = client.sms_params(flow["contact_identity"], customer, f"{i}")
                assert client.post_webhook(http, params).status_code == 200
            if i == per_customer // 3:
                workers[0].kill()  # SIGKILL, mid-traffic

        def all_stored() -> list[dict[str, object]]:
            channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert len(channels) == len(customers)
            assert all(c["messages_count"] == per_customer for c in channels), [c["messages_count"] for c in channels]
            return list(channels)

        for channel in eventually(all_stored, timeout=120):
            url = f"/v2/Services/{service}/Channels/{channel['sid']}/Messages"
            bodies = [m["body"] for m in http.get(url, params={"PageSize": "100"}).json()["messages"]]
            assert bodies == [str(i) for i in range(per_customer)]
    assert workers[0].wait(10) == -signal.SIGKILL


def test_studio_flows_survive_a_killed_worker(
    temporal_server: DevServer, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """Flows started on a worker that is killed mid-flow go on from their recorded history on the
    other worker: each customer gets one question and, after answering, one answer."""
    client, workers = api_and_two_workers(temporal_server, tmp_path, processes)
    twilio = client.twilio()
    flow_sid = twilio.studio.v2.flows.create(friendly_name="quiz", status="published", definition=QUIZ).sid
    customers = [new_phone() for _ in range(8)]
    with client.http() as http:
        service = client.create_service(http)
        number = client.create_flex_flow(http, service, IntegrationType="studio", **{"Integration.FlowSid": flow_sid})[
            "contact_identity"
        ]
        for customer in customers:
            assert client.post_webhook(http, client.sms_params(number, customer, "hi")).status_code == 200
        workers[0].kill()  # SIGKILL, with flows starting
        for customer in customers:
            assert client.post_webhook(http, client.sms_params(number, customer, "1")).status_code == 200

        def all_answered() -> list[list[str]]:
            channels = http.get(f"/v2/Services/{service}/Channels").json()["channels"]
            assert len(channels) == len(customers)
            assert all(c["messages_count"] >= 4 for c in channels), [c["messages_count"] for c in channels]
            return [
                [m["body"] for m in http.get(f"/v2/Services/{service}/Channels/{c['sid']}/Messages").json()["messages"]]
                for c in channels
            ]

        conversations = eventually(all_answered, timeout=120)
    # The reply may reach the channel before the question is stored; either way the flow hears it.
    for bodies in conversations:
        assert sorted(bodies[:3]) == sorted(["hi", "Reply 1 to go on", "1"]) and bodies[3:] == ["Thanks, you said 1"]
    assert workers[0].wait(10) == -signal.SIGKILL
