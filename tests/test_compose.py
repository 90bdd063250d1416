"""docker-compose.yml and the Dockerfile, checked without Docker: the compose file is parsed and
held against the code (settings, search attributes, modules), and the Temporal setup script is
run for real against the dev server with the `temporal` CLI from the venv."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from settings import Settings
from workflows.search_attributes import ALL_KEYS, cli_type

ROOT = Path(__file__).resolve().parent.parent
# Services that run once and exit; everything else must stay up and report its health.
ONE_SHOTS = {"temporal-schema", "temporal-setup", "migrate"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _host_port(service: dict[str, Any], container_port: int) -> int:
    for mapping in service.get("ports", []):
        host, _, container = str(mapping).rpartition(":")
        if int(container) == container_port:
            return int(host)
    raise AssertionError(f"no port mapping for {container_port} in {service.get('ports')}")


def test_expected_services(services: dict[str, dict[str, Any]]) -> None:
    expected = {"postgres", "temporal", "temporal-ui", "worker", "ingress", *ONE_SHOTS}
    assert expected <= set(services)


def test_krate_environment_keys_are_settings_fields(services: dict[str, dict[str, Any]]) -> None:
    fields = {f"KRATE_{name.upper()}" for name in Settings.model_fields}
    used = set()
    for name, service in services.items():
        for key in _environment(service):
            if key.startswith("KRATE_"):
                assert key in fields, f"{name}: {key} is not a Settings field"
                used.add(key)
    must = {
        "KRATE_DATABASE_URL",
        "KRATE_TEMPORAL_ADDRESS",
        "KRATE_TEMPORAL_NAMESPACE",
        "KRATE_TASK_QUEUE",
    }
    assert must <= used


def test_app_environment_is_valid_settings(services: dict[str, dict[str, Any]]) -> None:
    for name in ("worker", "ingress", "migrate"):
        env = {k: v for k, v in _environment(services[name]).items() if k.startswith("KRATE_")}
        settings = Settings.model_validate(
            {k.removeprefix("KRATE_").lower(): v for k, v in env.items()}
        )
        assert settings.database_url, name
    ingress = _environment(services["ingress"])
    assert ingress["KRATE_INGRESS_HOST"] == "0.0.0.0"  # reachable from outside the container


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        repository, sep, tag = image.rpartition(":")
        assert sep, f"{name}: {image} has no tag"
        assert repository, f"{name}: {image} has no repository"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image} is not pinned"


def test_ports_match_settings_defaults(services: dict[str, dict[str, Any]]) -> None:
    # The declared defaults, not Settings(): this process may have KRATE_* variables set.
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    temporal_port = int(defaults["temporal_address"].rpartition(":")[2])
    assert _host_port(services["temporal"], 7233) == temporal_port
    assert _host_port(services["temporal-ui"], 8080) == defaults["temporal_ui_port"]
    ingress_port = int(_environment(services["ingress"])["KRATE_INGRESS_PORT"])
    assert _host_port(services["ingress"], ingress_port) == defaults["ingress_port"]


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service.get("restart") == "no", f"{name} is a one-shot and must not restart"
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert service["healthcheck"]["test"], name


def test_depends_on_conditions(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must name conditions"
        for target, spec in depends.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name}: {target} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", (name, target, condition)
                assert target in ONE_SHOTS, f"{name}: {target} never completes"
    # Nothing of ours runs before its schema exists.
    for name in ("worker", "ingress"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_search_attributes_match_the_code(services: dict[str, dict[str, Any]]) -> None:
    script = "\n".join(_command(services["temporal-setup"]))
    registered = set(re.findall(r"\b(Krate\w+)=(\w+)", script))
    assert registered == {(key.name, cli_type(key)) for key in ALL_KEYS}


def test_commands_refer_to_existing_modules(services: dict[str, dict[str, Any]]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, service in services.items():
        if "build" not in service:
            continue
        command = _command(service)
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, f"{name}: {command}"
        else:
            assert command[0] in scripts, f"{name}: {command[0]} is not a console script"
            module = scripts[command[0]].partition(":")[0]
            assert importlib.util.find_spec(module) is not None, f"{name}: {module} is missing"
    assert _command(services["migrate"]) == ["krate-sync", "migrate"]


def test_migrate_is_a_cli_command() -> None:
    if importlib.util.find_spec("starter.cli") is None:
        pytest.fail("starter/cli.py is missing: the compose `migrate` service runs it")
    import typer.main

    from starter import cli

    command = typer.main.get_command(cli.app)
    assert "migrate" in getattr(command, "commands", {}), "`krate-sync migrate` does not exist"


def test_dockerfile_copies_existing_paths() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert next(line for line in lines if line.startswith("FROM")) == "FROM python:3.11-slim"
    copied: list[str] = []
    for line in lines:
        if line.startswith("COPY "):
            copied += line.split()[1:-1]
    for path in copied:
        assert (ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"
    # Every package the project declares goes into the image.
    packages = {p.rstrip("*") for p in _setuptools()["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in _setuptools()["py-modules"]}
    assert packages | modules <= set(copied)


def _setuptools() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"][
        "setuptools"
    ]
    return config


def _unescape(compose_text: str) -> str:
    """The script as the container's shell sees it ($$ is Compose's escape for $)."""
    return compose_text.replace("$$", "$")


@pytest.mark.timeout(180)
async def test_temporal_setup_script_against_dev_server(
    services: dict[str, dict[str, Any]], dev_server_env: WorkflowEnvironment
) -> None:
    """The admin-tools one-shot creates the namespace and search attributes, and re-runs."""
    service = services["temporal-setup"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": dev_server_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
    }
    for _ in range(2):  # the second run finds everything in place
        done = subprocess.run(  # noqa: ASYNC221 - a one-off script, nothing else to run meanwhile
            ["/bin/sh", "-c", _raw_command(service)],
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    listed = await dev_server_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    for key in ALL_KEYS:
        assert listed.custom_attributes.get(key.name) == int(key.indexed_value_type), key.name


def _raw_command(service: dict[str, Any]) -> str:
    command = service["command"]
    assert isinstance(command, list)
    assert len(command) == 1
    return _unescape(str(command[0]))
