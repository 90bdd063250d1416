"""`krate-sync validate | apply | get | delete` on examples/ and on broken manifests,
against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import run_cli, run_script
from tests.helpers.paths import SPEC_EXAMPLES

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"
INVALID = FIXTURES / "invalid"


@pytest.fixture(autouse=True)
def _no_temporal(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about storage; Temporal is left unreachable (workflows: test_cli_sync)."""
    monkeypatch.setenv("KRATE_TEMPORAL_ADDRESS", "127.0.0.1:9")


def test_spec_examples_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_script("validate", "-f", str(SPEC_EXAMPLES))
    assert result.code == 0, result.stderr
    assert "4 resource(s) valid in 4 file(s)" in result.stdout


@pytest.mark.parametrize(
    ("fixture", "field", "message"),
    [
        (
            "rule1-unknown-provider-type.yaml",
            "spec.providerType",
            'provider type "gitbub" is not in the registry',
        ),
        (
            "rule2-provider-capability.yaml",
            "spec.capabilities.cicd",
            'provider type "jira" does not offer the cicd interface',
        ),
        (
            "rule3-other-org.yaml",
            "spec.targetRef.organizationRef",
            'the target is in organization "acme"',
        ),
        (
            "rule4-secret-namespace.yaml",
            "spec.authRef.secretRef.namespace",
            'is in namespace "kube-system"',
        ),
        (
            "rule5-binding-mode.yaml",
            "spec.interfaces.cicd.mode",
            'mode "krate-owned" is not supported for cicd',
        ),
        (
            "rule6-webhook-secret.yaml",
            "spec.webhook.secretRef",
            "the webhook endpoint has no verification secret",
        ),
        (
            "rule7-raw-secret.yaml",
            "spec.parameters.token",
            "a write intent must not carry Secret values",
        ),
    ],
)
def test_invalid_manifest_names_file_field_and_fix(
    monkeypatch: pytest.MonkeyPatch, fixture: str, field: str, message: str
) -> None:
    result = run_cli(monkeypatch, "validate", "-f", str(INVALID / fixture))
    assert result.code == 1
    line = next((ln for ln in result.stderr.splitlines() if f"{field}:" in ln), None)
    assert line is not None, result.stderr
    assert fixture in line
    assert "(document " in line
    assert message in line
    assert "Fix:" in result.stderr


def test_write_mode_the_provider_type_cannot_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy asking for writes on a provider type with no write operations at all."""
    result = run_cli(
        monkeypatch,
        "validate",
        "-f",
        str(INVALID / "rule5-policy-read-only-type.yaml"),
        env={"KRATE_REGISTRY_PATH": str(FIXTURES / "provider-types")},
    )
    assert result.code == 1
    assert "spec.writePolicy.defaultMode:" in result.stderr
    assert "Fix: set spec.writePolicy.defaultMode to read-only." in result.stderr


def test_apply_then_get_round_trips_and_reapply_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch, clean_database: str
) -> None:
    env = {"KRATE_DATABASE_URL": clean_database}
    first = run_cli(monkeypatch, "apply", "-f", str(SPEC_EXAMPLES), env=env)
    assert first.code == 0, first.stderr
    assert "externalbackendbinding/github-krate created" in first.stdout
    assert "externalbackendprovider/github-a5c created" in first.stdout
    assert "externalbackendsyncpolicy/github-a5c-default created" in first.stdout

    shown = run_cli(monkeypatch, "get", "bindings", "-o", "yaml", env=env)
    assert shown.code == 0, shown.stderr
    [doc] = list(yaml.safe_load_all(shown.stdout))
    original = yaml.safe_load((SPEC_EXAMPLES / "binding-github-krate.yaml").read_text())
    assert doc["apiVersion"] == original["apiVersion"]
    assert doc["kind"] == original["kind"]
    assert doc["metadata"]["name"] == original["metadata"]["name"]
    assert doc["metadata"]["namespace"] == original["metadata"]["namespace"]
    assert doc["spec"] == original["spec"]
    assert doc["metadata"]["generation"] == 1

    second = run_cli(monkeypatch, "apply", "-f", str(SPEC_EXAMPLES), env=env)
    assert second.code == 0, second.stderr
    assert "externalbackendbinding/github-krate unchanged" in second.stdout
    again = run_cli(monkeypatch, "get", "binding", "github-krate", "-o", "yaml", env=env)
    assert yaml.safe_load(again.stdout) == doc


def test_changed_manifest_bumps_generation(
    monkeypatch: pytest.MonkeyPatch, clean_database: str, tmp_path: Path
) -> None:
    env = {"KRATE_DATABASE_URL": clean_database}
    assert run_cli(monkeypatch, "apply", "-f", str(SPEC_EXAMPLES), env=env).code == 0
    binding = yaml.safe_load((SPEC_EXAMPLES / "binding-github-krate.yaml").read_text())
    binding["spec"]["interfaces"]["cicd"]["enabled"] = False
    changed = tmp_path / "binding.yaml"
    changed.write_text(yaml.safe_dump(binding))
    result = run_cli(monkeypatch, "apply", "-f", str(changed), env=env)
    assert result.code == 0, result.stderr
    assert "externalbackendbinding/github-krate configured" in result.stdout
    doc = yaml.safe_load(
        run_cli(monkeypatch, "get", "binding", "github-krate", "-o", "yaml", env=env).stdout
    )
    assert doc["metadata"]["generation"] == 2
    assert doc["spec"]["interfaces"]["cicd"]["enabled"] is False


def test_apply_validates_against_stored_resources(
    monkeypatch: pytest.MonkeyPatch, clean_database: str, tmp_path: Path
) -> None:
    """A binding applied alone is checked against the provider already stored."""
    env = {"KRATE_DATABASE_URL": clean_database}
    assert (
        run_cli(
            monkeypatch, "apply", "-f", str(SPEC_EXAMPLES / "provider-github.yaml"), env=env
        ).code
        == 0
    )
    binding = yaml.safe_load((SPEC_EXAMPLES / "binding-github-krate.yaml").read_text())
    binding["spec"]["interfaces"]["cicd"]["mode"] = "krate-owned"
    path = tmp_path / "binding.yaml"
    path.write_text(yaml.safe_dump(binding))
    result = run_cli(monkeypatch, "apply", "-f", str(path), env=env)
    assert result.code == 1
    assert "spec.interfaces.cicd.mode:" in result.stderr
    assert "nothing was applied" in result.stderr
    listed = run_cli(monkeypatch, "get", "bindings", env=env)
    assert "No bindings found." in listed.stderr


def test_invalid_apply_stores_nothing(monkeypatch: pytest.MonkeyPatch, clean_database: str) -> None:
    env = {"KRATE_DATABASE_URL": clean_database}
    result = run_cli(monkeypatch, "apply", "-f", str(INVALID / "rule3-other-org.yaml"), env=env)
    assert result.code == 1
    listed = run_cli(monkeypatch, "get", "providers", "-o", "json", env=env)
    assert listed.code == 0
    assert "No providers found." in listed.stderr


def test_get_table_and_delete(monkeypatch: pytest.MonkeyPatch, clean_database: str) -> None:
    env = {"KRATE_DATABASE_URL": clean_database, "COLUMNS": "200"}
    assert run_cli(monkeypatch, "apply", "-f", str(SPEC_EXAMPLES), env=env).code == 0
    table = run_cli(monkeypatch, "get", "providers", env=env)
    assert table.code == 0
    header, row = table.stdout.strip().splitlines()[:2]
    assert header.split()[:4] == ["NAMESPACE", "NAME", "TYPE", "ORG"]
    assert row.split()[:4] == ["krate-org-a5c", "github-a5c", "github", "a5c"]

    deleted = run_cli(monkeypatch, "delete", "binding", "github-krate", env=env)
    assert deleted.code == 0, deleted.stderr
    assert "externalbackendbinding/github-krate deleted" in deleted.stdout
    missing = run_cli(monkeypatch, "get", "binding", "github-krate", env=env)
    assert missing.code == 1
    assert "not found" in missing.stderr
    again = run_cli(monkeypatch, "delete", "binding", "github-krate", env=env)
    assert again.code == 1


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("deliveries", "github-delivery-guid"),
        ("events", "github-krate-pr-42-opened"),
        ("syncstates", "github-krate-gitforge-pullrequest"),
        ("intents", "issue-42-create-comment-01hx"),
        ("conflicts", "issue-42-labels"),
        ("links", "pr-42-github"),
    ],
)
def test_get_every_aggregated_kind(
    monkeypatch: pytest.MonkeyPatch, clean_database: str, kind: str, name: str
) -> None:
    """The service writes these kinds itself; here they are stored through the store API."""
    from store.db import make_engine, session_scope
    from store.payloads import put_payload
    from store.resources import apply_resource

    engine = make_engine(clean_database)
    with session_scope(engine) as session:
        for doc in yaml.safe_load_all((FIXTURES / "valid" / "aggregated-kinds.yaml").read_text()):
            if doc["kind"] == "ExternalWebhookDelivery":  # its payload is stored first, by digest
                digest = put_payload(session, b'{"action": "opened"}')
                doc["spec"]["payloadRef"]["digest"] = digest
            apply_resource(session, doc)
    engine.dispose()
    env = {"KRATE_DATABASE_URL": clean_database}
    listed = run_cli(monkeypatch, "get", kind, "-o", "name", env=env)
    assert listed.code == 0, listed.stderr
    assert listed.stdout.strip().endswith(f"/{name}")
    shown = run_cli(monkeypatch, "get", kind, name, "-o", "json", env=env)
    assert shown.code == 0, shown.stderr
    assert f'"name": "{name}"' in shown.stdout


def test_migrate_reports_the_revision(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    from store.migrate import head

    result = run_cli(monkeypatch, "migrate", env={"KRATE_DATABASE_URL": database_url})
    assert result.code == 0, result.stderr
    assert f"database schema at revision {head()}" in result.stdout


def test_get_intents_hides_workflow_bookkeeping(
    monkeypatch: pytest.MonkeyPatch, clean_database: str
) -> None:
    """`get intents` shows an intent as `intents show` does: no stored workflow input."""
    from store.db import make_engine, session_scope
    from store.resources import apply_resource, set_status

    docs = yaml.safe_load_all((FIXTURES / "valid" / "aggregated-kinds.yaml").read_text())
    intent = next(d for d in docs if d["kind"] == "ExternalWriteIntent")
    engine = make_engine(clean_database)
    with session_scope(engine) as session:
        apply_resource(session, intent)
        # The service keeps the workflow's input in the status (starter/intents.py).
        set_status(
            session,
            "ExternalWriteIntent",
            intent["metadata"]["namespace"],
            intent["metadata"]["name"],
            {"phase": "Pending", "workflowInput": {"parameters": {"body": "kept inside"}}},
        )
    engine.dispose()
    env = {"KRATE_DATABASE_URL": clean_database}
    shown = run_cli(
        monkeypatch, "get", "intents", intent["metadata"]["name"], "-o", "json", env=env
    )
    assert shown.code == 0, shown.stderr
    assert "workflowInput" not in shown.stdout
    assert "kept inside" not in shown.stdout
