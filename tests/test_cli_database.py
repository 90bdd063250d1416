"""Every `krate-sync` command that reads the database finds it the same way (KRATE_DATABASE_URL,
else the running dev stack's file) and, when it cannot be reached, exits 3 with one line that
says what to do, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netports import free_port
from tests.helpers.cli import Result, run_cli, run_script
from tests.helpers.paths import SPEC_EXAMPLES

# Each command reaches the database before anything else that could fail (Temporal is down too).
DATABASE_COMMANDS = [
    ("get", "bindings"),
    ("apply", "-f", str(SPEC_EXAMPLES)),
    ("delete", "binding", "github-krate"),
    ("migrate",),
    ("sync", "status", "github-krate"),
    ("webhooks", "list", "--org", "a5c"),
    ("webhooks", "replay", "some-delivery", "--org", "a5c"),
    ("conflicts", "list"),
    ("conflicts", "show", "some-conflict"),
    ("conflicts", "resolve", "some-conflict", "keep-external"),
    ("conflicts", "reconcile"),
    ("conflicts", "edit", "issue", "a5c-ai/krate", "42", "--org", "a5c", "--title", "t"),
    ("intents", "list"),
    ("intents", "show", "some-intent"),
    ("intents", "reconcile"),
    ("intents", "create", "--binding", "github-krate", "--operation", "createComment"),
    ("audit",),
    ("audit", "--object", "binding/github-krate"),
]


def assert_unreachable(result: Result, port: int) -> None:
    assert result.code == 3, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot reach PostgreSQL at 127.0.0.1:{port}:")
    assert "KRATE_DATABASE_URL" in lines[0]
    assert "krate-sync dev" in lines[0]


@pytest.fixture
def down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str | None]:
    """Settings that point at closed ports: no PostgreSQL, no Temporal."""
    return {
        "KRATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/krate",
        "KRATE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "KRATE_STATE_DIR": str(tmp_path / "state"),
    }


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_unreachable_database_exits_3_with_one_line(
    monkeypatch: pytest.MonkeyPatch, down: dict[str, str | None], args: tuple[str, ...]
) -> None:
    result = run_cli(monkeypatch, *args, env=down)
    url = down["KRATE_DATABASE_URL"]
    assert url is not None
    assert_unreachable(result, int(url.rsplit(":", 1)[1].split("/")[0]))


@pytest.mark.parametrize(
    "args", [("webhooks", "list", "--org", "a5c"), ("conflicts", "list"), ("audit",)]
)
def test_the_installed_command_prints_no_traceback(
    down: dict[str, str | None], args: tuple[str, ...]
) -> None:
    env = {k: v for k, v in down.items() if v is not None}
    result = run_script(*args, env=env)
    assert_unreachable(result, int(env["KRATE_DATABASE_URL"].rsplit(":", 1)[1].split("/")[0]))


@pytest.mark.parametrize(
    "args", [("webhooks", "list", "--org", "a5c"), ("conflicts", "list"), ("audit",)]
)
def test_no_database_configured_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = run_cli(
        monkeypatch, *args, env={"KRATE_DATABASE_URL": None, "KRATE_STATE_DIR": str(tmp_path)}
    )
    assert result.code == 3
    assert "Traceback" not in result.stderr
    assert "no database configured: set KRATE_DATABASE_URL" in result.stderr
    assert "krate-sync dev" in result.stderr


def write_stack_file(state_dir: Path, database_url: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "dev-stack.json").write_text(json.dumps({"database_url": database_url}))


def test_a_stack_file_left_by_a_stopped_stack_says_to_start_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    port = free_port()
    write_stack_file(tmp_path, f"postgresql://postgres@127.0.0.1:{port}/krate")
    result = run_cli(
        monkeypatch,
        "webhooks",
        "list",
        "--org",
        "a5c",
        env={"KRATE_DATABASE_URL": None, "KRATE_STATE_DIR": str(tmp_path)},
    )
    assert_unreachable(result, port)
    assert "dev-stack.json is not running" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("webhooks", "list", "--org", "a5c", "-o", "json"),
        ("conflicts", "list", "-o", "json"),
        ("intents", "list", "-o", "json"),
        ("audit", "-o", "json"),
        ("get", "bindings", "-o", "json"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_commands_find_the_dev_stack_database_through_its_file(
    monkeypatch: pytest.MonkeyPatch,
    clean_database: str,
    tmp_path: Path,
    args: tuple[str, ...],
) -> None:
    """Nothing exported: the URL comes from the stack file, as in a second terminal."""
    write_stack_file(tmp_path, clean_database)
    env: dict[str, str | None] = {
        "KRATE_DATABASE_URL": None,
        "KRATE_STATE_DIR": str(tmp_path),
        "KRATE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # stored; workflows start later
    }
    applied = run_cli(monkeypatch, "apply", "-f", str(SPEC_EXAMPLES), env=env)
    assert applied.code == 0, applied.stderr
    result = run_cli(monkeypatch, *args, env=env)
    assert result.code == 0, result.stderr
    assert "error" not in result.stderr
    if args[0] == "get":
        assert json.loads(result.stdout)["metadata"]["name"] == "github-krate"
    if args[0] == "audit":
        actions = [e["action"] for e in json.loads(result.stdout)["items"]]
        assert actions.count("apply.created") == 3


def test_intents_reconcile_reads_the_database_then_needs_temporal(
    monkeypatch: pytest.MonkeyPatch, clean_database: str
) -> None:
    result = run_cli(
        monkeypatch,
        "intents",
        "reconcile",
        env={
            "KRATE_DATABASE_URL": clean_database,
            "KRATE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        },
    )
    assert result.code == 3, result.stderr
    assert "cannot reach Temporal" in result.stderr
    assert "PostgreSQL" not in result.stderr
