"""docker-compose.yaml, validated by Compose itself, and held to the native scale-out.

No Docker daemon runs here: ``docker-compose config`` (Debian's ``docker-compose``, which
``.ci/run`` installs) or ``docker compose config`` renders and validates the file without
one. The tests then check the rendered services: a health check on each, the Airflow
commands equal to what ``make airflow-celery`` runs (``devstack.celery_stack``), Celery and
the FAB auth manager everywhere, DAGs paused at creation, and no secret in any committed file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.celery_stack import SERVER_COMPONENTS, WORKER_SUBCOMMAND, CeleryStack, airflow_subcommands
from tests.fixtures.stack import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
CONNECTIONS_EXAMPLE = PROJECT_ROOT / "deploy" / "secrets" / "connections.env.example"

AIRFLOW_SERVICES = {
    "airflow-apiserver": ("api-server",),
    "airflow-scheduler": ("scheduler",),
    "airflow-dag-processor": ("dag-processor",),
    "airflow-triggerer": ("triggerer",),
    "airflow-worker": WORKER_SUBCOMMAND,
}
ONE_SHOT_SERVICES = {"airflow-init", "demo-setup"}
PRODUCTION_SERVICES = {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES}
DEMO_SERVICES = {"salesforce-emulator", "demo-setup"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", re.IGNORECASE)
PLACEHOLDER_PREFIX = "change-me"


def compose_command() -> list[str]:
    """``docker compose`` where the plugin exists, else Debian's ``docker-compose``.

    Fails (never skips): ``.ci/run`` installs ``docker-compose``.
    """
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)")


def render(env_file: Path, *profiles: str) -> subprocess.CompletedProcess[str]:
    """``compose config`` of the project's file with ``env_file`` (never the user's .env)."""
    command = [*compose_command(), "--env-file", str(env_file), "--project-directory", str(PROJECT_ROOT),
               "-f", str(COMPOSE_FILE)]
    for profile in profiles:
        command += ["--profile", profile]
    return subprocess.run([*command, "config"], capture_output=True, text=True, timeout=120, check=False)


def rendered(*profiles: str) -> dict[str, Any]:
    result = render(ENV_EXAMPLE, *profiles)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert isinstance(config, dict) and config.get("services"), result.stdout[:500]
    # Compose v2 leaves out the services of inactive profiles; docker-compose 1.x lists them.
    config["services"] = {
        name: service for name, service in config["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }
    return config


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return rendered()


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    return rendered("demo")


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _command(service: dict[str, Any]) -> tuple[str, ...]:
    command = service.get("command") or ()
    return tuple(command.split() if isinstance(command, str) else command)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def test_compose_validates_with_and_without_the_demo_profile(
    production: dict[str, Any], demo: dict[str, Any]
) -> None:
    assert set(production["services"]) == PRODUCTION_SERVICES
    assert set(demo["services"]) == PRODUCTION_SERVICES | DEMO_SERVICES


def test_compose_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    values = _env_file(ENV_EXAMPLE)
    del values["AIRFLOW_JWT_SECRET"]
    incomplete = tmp_path / "incomplete.env"
    incomplete.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    result = render(incomplete)
    assert result.returncode != 0
    assert "AIRFLOW_JWT_SECRET" in result.stderr


def test_every_service_has_a_health_check(demo: dict[str, Any]) -> None:
    for name, service in demo["services"].items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), (name, check["test"])


def test_airflow_services_run_the_commands_of_the_native_scale_out(demo: dict[str, Any]) -> None:
    services = demo["services"]
    compose_commands = {name: _command(services[name]) for name in AIRFLOW_SERVICES}
    assert compose_commands == AIRFLOW_SERVICES
    # The native topology runs exactly these sub-commands, each as `python -m airflow ...`.
    native = set(airflow_subcommands(workers=2))
    assert set(compose_commands.values()) == native
    stack = CeleryStack(base_env={}, state_dir=PROJECT_ROOT / ".local" / "unused", root=PROJECT_ROOT, api_port=1)
    for component in SERVER_COMPONENTS:
        assert tuple(stack.command(component)[3:]) == tuple(component.split())
    assert tuple(stack.command("worker", worker_name="worker-1")[3:5]) == WORKER_SUBCOMMAND
    # The other services are not Airflow components: databases, one-shot set-up, the emulator.
    others = set(services) - set(AIRFLOW_SERVICES)
    assert others == {"postgres", "redis", "salesforce-emulator"} | ONE_SHOT_SERVICES
    for name in ONE_SHOT_SERVICES:
        assert services[name]["restart"] == "no"


def test_airflow_services_share_celery_fab_and_paused_dags(production: dict[str, Any]) -> None:
    services = production["services"]
    airflow = {name: _environment(services[name]) for name in (*AIRFLOW_SERVICES, "airflow-init")}
    for name, env in airflow.items():
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == (
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
        ), name
        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true", name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW_CONN_CRM_WAREHOUSE", "AIRFLOW_CONN_MARKETING_DB"):
        assert len({env[key] for env in airflow.values()}) == 1, f"{key} differs between services"
    for name in AIRFLOW_SERVICES:
        assert services[name]["build"]["target"] == "production", name


def test_the_demo_emulator_comes_from_the_demo_image_and_feeds_the_worker(demo: dict[str, Any]) -> None:
    services = demo["services"]
    emulator = services["salesforce-emulator"]
    assert emulator["build"]["target"] == "demo"
    assert tuple(emulator["entrypoint"][:4]) == ("python", "-m", "emulator", "serve")
    assert emulator["network_mode"] == "service:airflow-worker"
    setup_env = _environment(services["demo-setup"])
    assert setup_env["CRM_EMULATOR_URL"] == "https://127.0.0.1:8443"
    # The emulator's certificate reaches the worker through the shared CA bundle volume.
    worker_env = _environment(services["airflow-worker"])
    assert worker_env["REQUESTS_CA_BUNDLE"] == "/opt/crm-sync/ca/bundle.pem"
    mounts = {name: dict(_volumes(services[name])) for name in ("salesforce-emulator", "demo-setup", "airflow-worker")}
    assert mounts["salesforce-emulator"]["/opt/crm-sync/emulator-state"] == "emulator-state"
    assert mounts["demo-setup"]["/opt/crm-sync/emulator-state"] == "emulator-state"
    assert mounts["demo-setup"]["/opt/crm-sync/ca"] == mounts["airflow-worker"]["/opt/crm-sync/ca"] == "ca-bundle"


def _volumes(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(target, source) of a service's volumes, in short (1.x) or long (v2) syntax."""
    for volume in service.get("volumes") or ():
        if isinstance(volume, dict):
            yield volume["target"], volume["source"]
        else:
            source, target = volume.split(":")[:2]
            yield target, source


def _walk_strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_strings(value, f"{path}[{index}]")
    elif node is not None:
        yield path, str(node)


def test_no_secret_is_committed(demo: dict[str, Any]) -> None:
    placeholders = {k: v for k, v in _env_file(ENV_EXAMPLE).items() if SECRET_NAME.search(k)}
    assert placeholders, ".env.example names no secret"
    for key, value in placeholders.items():
        assert value.startswith(PLACEHOLDER_PREFIX), f".env.example: {key} must be a {PLACEHOLDER_PREFIX}… placeholder"
    # In the compose file itself every secret is a reference to .env: rendered with
    # .env.example, each secret-named setting is a placeholder or contains one.
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for path, value in _walk_strings(raw):
        key = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(key) and not key.endswith("_FILE"):
            assert value.startswith("${"), f"docker-compose.yaml {path} is not taken from .env"
    for name, service in demo["services"].items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert any(p in value for p in placeholders.values()), f"{name}: {key} is not from .env"
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW_CONN_CRM_WAREHOUSE"):
            if key in _environment(service):
                assert PLACEHOLDER_PREFIX in _environment(service)[key], (name, key)
    for line in CONNECTIONS_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            for secret in re.findall(r"(?:consumer_key|security_token|password)=([^&]+)", line):
                assert secret.startswith(PLACEHOLDER_PREFIX), line
    ignored = subprocess.run(
        ["git", "check-ignore", ".env", "deploy/secrets/connections.env", "deploy/secrets/salesforce.key"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )
    assert ignored.stdout.split() == [".env", "deploy/secrets/connections.env", "deploy/secrets/salesforce.key"]


def test_example_salesforce_connections_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.models.connection import Connection

    lines = [line.lstrip("# ").strip() for line in CONNECTIONS_EXAMPLE.read_text().splitlines()]
    uris = [line.partition("=")[2] for line in lines if line.startswith("salesforce_default=")]
    assert len(uris) == 2
    jwt, password = (Connection(conn_id="salesforce_default", uri=uri) for uri in uris)
    assert (jwt.conn_type, jwt.login) == ("salesforce", "etl@example.com")
    assert set(jwt.extra_dejson) == {"consumer_key", "private_key_file_path", "domain", "version"}
    assert jwt.extra_dejson["private_key_file_path"] == "/opt/crm-sync/secrets/salesforce.key"
    assert password.password and set(password.extra_dejson) == {"security_token", "domain", "version"}


@pytest.mark.parametrize(
    "script",
    sorted((PROJECT_ROOT / "deploy").glob("*/*.sh")),
    ids=lambda path: str(path.relative_to(PROJECT_ROOT)),
)
def test_start_up_scripts_are_valid_bash(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()
