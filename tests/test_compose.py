"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine), so they are checked
against the code: every variable a service sets is a setting the code reads, every secret is
provided, commands exist, addresses point at services that exist, images are pinned."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from api.routes.health import router as health_router
from switchboard.settings import SECRET_FIELDS, Settings

pytestmark = pytest.mark.fast

ROOT = Path(__file__).parent.parent
SETTING_VARIABLES = {f"SWITCHBOARD_{name.upper()}" for name in Settings.model_fields}


def compose() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return parsed


def services_running(spec: dict[str, Any], command: str) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in spec["services"].items()
        if service.get("command") == ["switchboard", command]
    }


def unknown_variables(spec: dict[str, Any]) -> list[str]:
    """``SWITCHBOARD_*`` variables set on some service that no setting reads."""
    problems = []
    for name, service in spec["services"].items():
        for variable in service.get("environment") or {}:
            if variable.startswith("SWITCHBOARD_") and variable not in SETTING_VARIABLES:
                problems.append(f"{name}: {variable}")
    return problems


def test_every_switchboard_variable_is_a_real_setting() -> None:
    assert unknown_variables(compose()) == []


def test_a_misspelt_variable_is_caught() -> None:
    spec = copy.deepcopy(compose())
    spec["services"]["api-1"]["environment"]["SWITCHBOARD_DATABSE_URL"] = "postgresql://x"
    assert unknown_variables(spec) == ["api-1: SWITCHBOARD_DATABSE_URL"]


def test_api_and_worker_replicas_get_every_secret_and_their_command() -> None:
    spec = compose()
    apis, workers = services_running(spec, "api"), services_running(spec, "worker")
    assert len(apis) >= 2 and len(workers) >= 2
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["switchboard"] == "switchboard.cli:main"
    from switchboard.cli import app

    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    assert {"api", "worker", "dev"} <= commands
    for name, service in {**apis, **workers}.items():
        environment = service["environment"]
        for secret in SECRET_FIELDS:
            variable = f"SWITCHBOARD_{secret.upper()}"
            assert variable in environment, f"{name} lacks {variable}"
            # Required from the operator, never a default baked into the file.
            assert re.fullmatch(r"\$\{" + variable + r":\?[^}]+\}", str(environment[variable])), environment[variable]


def test_addresses_point_at_services_in_the_file() -> None:
    spec = compose()
    services = spec["services"]
    for name, service in {**services_running(spec, "api"), **services_running(spec, "worker")}.items():
        environment = service["environment"]
        host, port = environment["SWITCHBOARD_TEMPORAL_ADDRESS"].split(":")
        assert host in services and port == "7233", name
        assert "7233:7233" in services[host]["ports"]
        url = environment["SWITCHBOARD_DATABASE_URL"]
        assert Settings(database_url=url).resolved_database_url.startswith("postgresql+psycopg://")
        database_host = urlparse(url).hostname
        assert database_host in services and services[database_host]["image"].startswith("postgres:")
        database = services[database_host]["environment"]
        assert urlparse(url).username == database["POSTGRES_USER"]
        assert urlparse(url).path.lstrip("/") == database["POSTGRES_DB"]
        for dependency in service["depends_on"]:
            assert dependency in services, f"{name} depends on missing {dependency}"
    ui = next(s for s in services.values() if s["image"].startswith("temporalio/ui:"))
    assert ui["environment"]["TEMPORAL_ADDRESS"].split(":")[0] in services


def test_api_ports_match_the_settings() -> None:
    spec = compose()
    default_port = Settings.model_fields["api_port"].default
    published = []
    for service in services_running(spec, "api").values():
        environment = service["environment"]
        assert environment["SWITCHBOARD_API_HOST"] == "0.0.0.0"  # reachable from outside the container
        container_port = int(environment.get("SWITCHBOARD_API_PORT", default_port))
        assert container_port == default_port
        [mapping] = service["ports"]
        host_port, target = mapping.split(":")
        assert int(target) == container_port
        published.append(int(host_port))
    assert len(set(published)) == len(published)


def test_images_are_pinned() -> None:
    for name, service in compose()["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name} uses unpinned {image}"


def test_dockerfile_runs_the_console_script_and_checks_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^CMD \["switchboard", "api"\]$', dockerfile, re.MULTILINE)
    health = re.search(r"^HEALTHCHECK .*?(/healthz)", dockerfile, re.MULTILINE | re.DOTALL)
    assert health is not None
    assert "/healthz" in {getattr(route, "path", None) for route in health_router.routes}
    # Everything the package is built from is copied in.
    for module in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["py-modules"]:
        assert f"{module}.py" in dockerfile, f"the image misses {module}.py"
    for package in ("switchboard", "api", "workflows", "activities"):
        assert f"COPY {package} ./{package}" in dockerfile


def test_redis_migrations_and_metrics_are_wired() -> None:
    spec = compose()
    services = spec["services"]
    replicas = {**services_running(spec, "api"), **services_running(spec, "worker")}
    from switchboard.cli import app

    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    [migrate_name] = services_running(spec, "migrate")
    assert "migrate" in commands
    for name, service in replicas.items():
        environment = service["environment"]
        redis = urlparse(environment["SWITCHBOARD_REDIS_URL"])
        assert redis.scheme == "redis" and redis.port == 6379, name
        assert redis.hostname in services and services[str(redis.hostname)]["image"].startswith("redis:")
        assert service["depends_on"][migrate_name] == {"condition": "service_completed_successfully"}, name
        assert environment["SWITCHBOARD_LOG_FORMAT"] in Settings.model_fields["log_format"].annotation.__args__  # type: ignore[union-attr]
    for name, service in services_running(spec, "worker").items():
        port = service["environment"]["SWITCHBOARD_METRICS_PORT"]
        assert Settings(metrics_port=int(port)).metrics_port == 9100
        assert f"127.0.0.1:{port}/metrics" in " ".join(service["healthcheck"]["test"]), name
    # The Temporal UI calls the codec endpoint of the API, whose CORS admits the UI's origin.
    ui = next(s for s in services.values() if s["image"].startswith("temporalio/ui:"))
    assert ui["environment"]["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    [ui_port] = [int(mapping.split(":")[0]) for mapping in ui["ports"]]
    for name, service in replicas.items():
        assert urlparse(service["environment"]["SWITCHBOARD_TEMPORAL_UI_ORIGIN"]).port == ui_port, name


def test_the_install_adds_only_the_design_cards_names_and_the_project_package() -> None:
    """Nothing lands in site-packages under a generic name (`settings`, `store`, `web`, `cli`)."""
    from setuptools import find_packages

    setuptools_config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(where=str(ROOT), include=setuptools_config["packages"]["find"]["include"])
    top_level = {name.split(".")[0] for name in found} | set(setuptools_config.get("py-modules", []))
    assert top_level == {"switchboard", "api", "workflows", "activities", "worker"}, top_level
