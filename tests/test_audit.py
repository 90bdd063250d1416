"""The audit trail, readable: `krate-sync audit` and `GET /api/v1/orgs/{org}/audit`, with their
filters by object, by action and by count, on entries the service's own operations wrote."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from ingress.auth import parse_tokens
from ingress.replay import requeue
from store import conflicts
from store.audit import record_audit
from store.db import make_engine, session_scope
from store.resources import apply_resource, delete_resource
from tests.helpers.cli import run_cli
from tests.helpers.paths import SPEC_EXAMPLES
from tests.test_conflict_detection import edit, external_issue, sync
from tests.test_webhook_cli import _dead_letter
from tests.test_webhook_helpers import ORG, TOKENS, ingress

INTENT = "github-krate-comment-1"
ISSUE_NAME = "github-a5c-a5c-ai-krate-42"


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    engine = make_engine(clean_database)
    conflicts.set_conflict_starter(None)  # conflicts are stored; no workflow is started here
    yield engine
    conflicts.set_conflict_starter(None)
    engine.dispose()


def seed(engine: Engine) -> None:
    """Entries written by the real operations: apply and delete, a local edit of issue 42 and
    the conflict it meets, and the steps of a write intent (as its workflow records them)."""
    with session_scope(engine) as session:
        for source in sorted(SPEC_EXAMPLES.glob("*.yaml")):
            doc = yaml.safe_load(source.read_text())
            if "kind" in doc:
                apply_resource(session, doc, actor="user:ana")
    sync(engine, external_issue(0))
    edit(engine, title="krate title")
    sync(engine, external_issue(5, title="github title"))  # raises a conflict on the title
    with session_scope(engine) as session:
        for action in ("intent.created", "intent.approved"):
            record_audit(
                session,
                actor="user:bob",
                action=action,
                subject_kind="ExternalWriteIntent",
                subject_namespace="krate-org-a5c",
                subject_name=INTENT,
                org=ORG,
                provider_ref="github-a5c",
            )
        record_audit(
            session,
            actor="user:eve",
            action="intent.created",
            subject_kind="ExternalWriteIntent",
            subject_name="elsewhere",
            org="acme",
        )
        delete_resource(session, "ExternalBackendSyncPolicy", "krate-org-a5c", "github-a5c-default")


def audit(monkeypatch: pytest.MonkeyPatch, database: str, *args: str) -> Any:
    result = run_cli(
        monkeypatch, "audit", *args, "-o", "json", env={"KRATE_DATABASE_URL": database}
    )
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)["items"]


def actions(items: list[dict[str, Any]]) -> list[str]:
    return [item["action"] for item in items]


# -- command line ------------------------------------------------------------------------------


def test_audit_lists_everything_newest_first_as_a_table(
    engine: Engine, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine)
    result = run_cli(monkeypatch, "audit", env={"KRATE_DATABASE_URL": clean_database})
    assert result.code == 0, result.stderr
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["TIME", "ORG", "ACTOR", "ACTION", "OBJECT"]
    assert len(rows) == 9
    assert rows[0].split()[1:] == ["a5c", "krate-sync", "delete", "syncpolicy/github-a5c-default"]
    assert rows[-1].split()[1:] == ["a5c", "user:ana", "apply.created", "binding/github-krate"]
    assert f"issue/{ISSUE_NAME}" in result.stdout


def test_filters_by_object_in_every_form(
    engine: Engine, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine)
    by_kind = audit(monkeypatch, clean_database, "--object", f"intent/{INTENT}")
    assert actions(by_kind) == ["intent.approved", "intent.created"]
    assert by_kind[0]["object"] == {
        "kind": "ExternalWriteIntent",
        "namespace": "krate-org-a5c",
        "name": INTENT,
    }
    assert by_kind[0]["actor"] == "user:bob"
    # The binding and the sync policy have their own entries; any of several objects match.
    both = audit(
        monkeypatch,
        clean_database,
        "--object",
        "binding/github-krate",
        "--object",
        "syncpolicies/github-a5c-default",
    )
    assert actions(both) == ["delete", "apply.created", "apply.created"]
    # An issue by its local name, by its number at the provider, with or without the kind.
    for ref in (f"issue/{ISSUE_NAME}", "issue/a5c-ai/krate#42", "a5c-ai/krate#42"):
        assert actions(audit(monkeypatch, clean_database, "--object", ref)) == ["local-edit"]
    assert audit(monkeypatch, clean_database, "--object", "pr/a5c-ai/krate#42") == []
    # A bare name, any kind.
    assert len(audit(monkeypatch, clean_database, "--object", "github-krate")) == 1


def test_filters_by_action_family_org_and_limit(
    engine: Engine, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine)
    assert actions(audit(monkeypatch, clean_database, "--action", "conflict")) == [
        "conflict-raised"
    ]
    applied = audit(monkeypatch, clean_database, "--action", "apply", "--action", "delete")
    assert actions(applied) == ["delete", *["apply.created"] * 3]
    assert len(audit(monkeypatch, clean_database, "--action", "intent.created")) == 2
    only_acme = audit(monkeypatch, clean_database, "--org", "acme")
    assert [(e["org"], e["object"]["name"]) for e in only_acme] == [("acme", "elsewhere")]
    newest = audit(monkeypatch, clean_database, "--limit", "2")
    assert actions(newest) == ["delete", "intent.created"]
    result = run_cli(
        monkeypatch, "audit", "--org", "nobody", env={"KRATE_DATABASE_URL": clean_database}
    )
    assert (result.code, result.stdout) == (0, "")
    assert "No audit entries found." in result.stderr


def test_yaml_output_has_the_same_items(
    engine: Engine, clean_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine)
    result = run_cli(
        monkeypatch,
        "audit",
        "--object",
        f"intent/{INTENT}",
        "-o",
        "yaml",
        env={"KRATE_DATABASE_URL": clean_database},
    )
    assert result.code == 0, result.stderr
    items = yaml.safe_load(result.stdout)["items"]
    assert items == audit(monkeypatch, clean_database, "--object", f"intent/{INTENT}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--action", "aprove"), "unknown action 'aprove': give a family (apply, conflict,"),
        (("--action", ""), "unknown action ''"),
        (("--object", "intnet/x"), "object 'intnet/x': 'intnet' is not a kind"),
        (("--object", "intent/"), "object 'intent/': give a name after intent/"),
        (("--object", " "), "empty object"),
        (("--limit", "0"), "limit 0: give a whole number from 1 to 1000"),
        (("--limit", "1001"), "limit 1001: give a whole number from 1 to 1000"),
    ],
)
def test_a_bad_filter_exits_1_with_the_reason(
    clean_database: str,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    result = run_cli(monkeypatch, "audit", *args, env={"KRATE_DATABASE_URL": clean_database})
    assert result.code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith(f"error: {message}")
    assert "Traceback" not in result.stderr


# -- HTTP --------------------------------------------------------------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_reads_the_trail_with_the_same_filters(
    engine: Engine, clean_database: str, tmp_path: Path
) -> None:
    delivery_id = await _dead_letter(clean_database, tmp_path)
    outcome = await asyncio.to_thread(requeue, engine, ORG, delivery_id, actor="api:operator")
    assert outcome.replayed
    await asyncio.to_thread(seed, engine)
    tokens = parse_tokens(
        {
            "tokens": [
                *({"name": role, "token": t, "role": role} for t, role in TOKENS.items()),
                {"name": "acme", "token": "acme-token", "role": "viewer", "orgs": ["acme"]},
            ]
        }
    )
    url = f"/api/v1/orgs/{ORG}/audit"
    async with ingress(clean_database, tmp_path, client=None, tokens=tokens) as app:
        viewer = _auth("viewer-token")
        everything = await app.http.get(url, headers=viewer)
        assert everything.status_code == 200
        items = everything.json()["items"]
        # The org's entries only: _dead_letter's two applies, the replay, 8 of seed()'s 9.
        assert len(items) == 11
        assert {i["org"] for i in items} == {ORG}

        # A delivery by the provider's id, though the entry names the delivery object.
        replayed = await app.http.get(
            url, params={"object": f"delivery/{delivery_id}"}, headers=viewer
        )
        [entry] = replayed.json()["items"]
        assert (entry["action"], entry["actor"]) == ("replay", "api:operator")
        assert entry["object"]["kind"] == "ExternalWebhookDelivery"
        assert entry["details"] == {"from": "DeadLettered", "attempts": 5}

        some = await app.http.get(
            url,
            params=[("action", "intent"), ("action", "replay"), ("limit", "2")],
            headers=viewer,
        )
        assert actions(some.json()["items"]) == ["intent.approved", "intent.created"]
        issue = await app.http.get(url, params={"object": "a5c-ai/krate#42"}, headers=viewer)
        assert actions(issue.json()["items"]) == ["local-edit"]

        for params, message in (
            ({"action": "aprove"}, "unknown action 'aprove'"),
            ({"object": "intnet/x"}, "object 'intnet/x': 'intnet' is not a kind"),
            ({"limit": "ten"}, "limit 'ten': give a whole number from 1 to 1000"),
            ({"limit": "0"}, "limit '0'"),
            ({"objects": "intent/x"}, "unknown parameter 'objects'"),
        ):
            bad = await app.http.get(url, params=params, headers=viewer)
            assert bad.status_code == 400, params
            assert bad.json()["error"].startswith(message), bad.json()

        assert (await app.http.get(url)).status_code == 401
        other_org = await app.http.get(url, headers=_auth("acme-token"))
        assert other_org.status_code == 403
        acme = await app.http.get("/api/v1/orgs/acme/audit", headers=_auth("acme-token"))
        assert [e["object"]["name"] for e in acme.json()["items"]] == ["elsewhere"]
