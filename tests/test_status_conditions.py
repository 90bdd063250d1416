"""Provider and binding status (phase, the spec's conditions) and ExternalSyncState rows from
what the service observes: real Postgres, the real mirror activity, BindingSyncWorkflow on the
time-skipping test server, the CLI and the read API."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.backfill_models import (
    BackfillPageInput,
    BackfillPageResult,
    BindingRef,
    MirrorSyncStateInput,
    RateLimitBudget,
    ScopeCursor,
    SyncCondition,
    SyncScope,
)
from activities.sync_state import SyncStateActivities
from resources.aggregated import ExternalSyncState
from resources.conditions import Condition, ConditionStatus, ConditionType
from resources.config import ExternalBackendBinding, ExternalBackendProvider
from resources.status import set_condition
from store.aggregated import insert_aggregated
from store.db import make_engine, session_scope
from store.resources import apply_resource, get_resources
from tests.helpers.cli import run_cli
from tests.helpers.paths import SPEC_EXAMPLES
from tests.helpers.temporal import new_worker
from workflows.binding_sync import (
    BindingSyncConfig,
    BindingSyncInput,
    BindingSyncWorkflow,
    InterfaceConfig,
    workflow_id,
)

ORG, NAMESPACE, PROVIDER, BINDING = "a5c", "krate-org-a5c", "github-a5c", "github-krate"
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _manifest(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((SPEC_EXAMPLES / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture
def engine(clean_database: str) -> Iterator[Engine]:
    made = make_engine(clean_database)
    with session_scope(made) as session:
        apply_resource(session, _manifest("provider-github.yaml"))
        apply_resource(session, _manifest("binding-github-krate.yaml"))
    yield made
    made.dispose()


def _ref() -> BindingRef:
    return BindingRef(
        org=ORG,
        namespace=NAMESPACE,
        binding=BINDING,
        provider=PROVIDER,
        provider_type="github",
        installation_id=123456,
    )


def _cursor(interface: str, kind: str, *, synced: bool = True) -> ScopeCursor:
    scope = SyncScope(interface=interface, resource_kind=kind, owner="a5c-ai", repository="krate")
    if not synced:
        return ScopeCursor(scope=scope)
    return ScopeCursor(scope=scope, pages=1, objects=3, last_pass_completed_at=T0, watermark=T0)


CURSORS = [
    _cursor("issueTracking", "Issue"),
    _cursor("cicd", "Pipeline"),
    _cursor("gitForge", "Repository"),
    _cursor("gitForge", "PullRequest"),
]


def _stored(engine: Engine, kind: str) -> dict[str, Any]:
    with session_scope(engine) as session:
        [doc] = get_resources(session, kind, NAMESPACE)
    return doc


def _conditions(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in doc["status"]["conditions"]}


async def _mirror(engine: Engine, **fields: Any) -> None:
    values: dict[str, Any] = {
        "binding": _ref(),
        "phase": "Ready",
        "cursors": CURSORS,
        "generation": 1,
    }
    values.update(fields)
    acts = SyncStateActivities(lambda: engine)
    await ActivityEnvironment().run(acts.mirror_sync_state, MirrorSyncStateInput(**values))


# -- the rules --------------------------------------------------------------------------------


def test_transition_time_moves_only_when_the_status_changes() -> None:
    before = [
        Condition(
            type=ConditionType.AUTH_READY,
            status=ConditionStatus.TRUE,
            reason="Authenticated",
            last_transition_time=T0,
        )
    ]
    later = T0 + timedelta(hours=1)
    same = set_condition(
        before, ConditionType.AUTH_READY, ConditionStatus.TRUE, "Other", "m", later
    )
    assert same.last_transition_time == T0
    assert same.reason == "Other"
    flipped = set_condition(
        before, ConditionType.AUTH_READY, ConditionStatus.FALSE, "CredentialsRefused", "", later
    )
    assert flipped.last_transition_time == later


# -- bindings and providers from the mirror ---------------------------------------------------


async def test_a_401_sets_auth_ready_false_with_the_providers_message_on_both(
    engine: Engine,
) -> None:
    keys = [c.scope.key for c in CURSORS]
    message = "401 Bad credentials"
    await _mirror(
        engine,
        phase="Degraded",
        cursors=[_cursor(c.scope.interface, c.scope.resource_kind, synced=False) for c in CURSORS],
        scope_errors=dict.fromkeys(keys, message),
        scope_error_types=dict.fromkeys(keys, "ProviderAuthError"),
    )
    binding = _stored(engine, "ExternalBackendBinding")
    ExternalBackendBinding.model_validate(binding)  # the status is valid for the model
    got = _conditions(binding)
    assert binding["status"]["phase"] == "Error"
    assert (got["AuthReady"]["status"], got["AuthReady"]["message"]) == ("False", message)
    assert got["InstallationReady"]["status"] == "False"  # the App installation's token
    assert got["Ready"]["status"] == "False"
    assert got["Ready"]["reason"] == "AuthReadyFalse"
    for interface in ("IssueTrackingReady", "CicdReady", "GitForgeReady"):
        assert got[interface]["status"] == "False"
    provider = _stored(engine, "ExternalBackendProvider")
    ExternalBackendProvider.model_validate(provider)
    rolled = _conditions(provider)
    assert provider["status"]["phase"] == "Error"
    assert rolled["AuthReady"]["status"] == "False"
    assert rolled["AuthReady"]["message"] == f"{BINDING}: {message}"
    assert rolled["Ready"]["status"] == "False"
    failed_at = got["AuthReady"]["lastTransitionTime"]

    # Fixed credentials: the next pass succeeds; the transition time moves once.
    await _mirror(engine)
    got = _conditions(_stored(engine, "ExternalBackendBinding"))
    assert got["AuthReady"]["status"] == "True"
    assert got["Ready"]["status"] == "True"
    recovered_at = got["AuthReady"]["lastTransitionTime"]
    assert recovered_at != failed_at
    await _mirror(engine)
    again = _conditions(_stored(engine, "ExternalBackendBinding"))
    assert again["AuthReady"]["lastTransitionTime"] == recovered_at
    assert _conditions(_stored(engine, "ExternalBackendProvider"))["Ready"]["status"] == "True"


async def test_a_failing_interface_is_not_ready_and_the_others_are(engine: Engine) -> None:
    pulls = CURSORS[3]
    await _mirror(
        engine,
        phase="Degraded",
        scope_errors={pulls.scope.key: "404 Not Found"},
        scope_error_types={pulls.scope.key: "ProviderNotFound"},
    )
    got = _conditions(_stored(engine, "ExternalBackendBinding"))
    assert got["GitForgeReady"]["status"] == "False"
    assert "404 Not Found" in got["GitForgeReady"]["message"]
    assert got["IssueTrackingReady"]["status"] == "True"
    assert got["CicdReady"]["status"] == "True"
    assert got["AuthReady"]["status"] == "True"  # a 404 is not a credential problem
    assert got["BackfillHealthy"]["status"] == "False"
    assert got["Ready"]["status"] == "False"


async def test_rate_limit_conflicts_queue_depth_and_budget(engine: Engine) -> None:
    reset = T0 + timedelta(minutes=40)
    with session_scope(engine) as session:
        for index, phase in enumerate(("Queued", "Queued", "Failed", "Processed")):
            insert_aggregated(session, _delivery(f"d{index}", phase))
        insert_aggregated(session, _conflict())
    await _mirror(
        engine,
        phase="RateLimited",
        cursors=[*CURSORS[:3], CURSORS[3].model_copy(update={"next_page": '{"page": 2}'})],
        rate_limited_until=reset,
        rate_limit=RateLimitBudget(limit=5000, remaining=12, reset_at=reset),
        conditions=[
            SyncCondition(
                type="RateLimited",
                status="True",
                reason="ProviderRateLimit",
                message="12 requests left, below the floor of 50",
            )
        ],
    )
    binding = _stored(engine, "ExternalBackendBinding")
    got = _conditions(binding)
    assert got["RateLimited"]["status"] == "True"
    assert reset.isoformat() in got["RateLimited"]["message"]
    assert "below the floor" in got["RateLimited"]["message"]
    assert got["ConflictsPresent"]["status"] == "True"
    assert got["Ready"]["status"] == "False"
    assert binding["status"]["phase"] == "RateLimited"
    assert binding["status"]["queueDepth"] == 3
    assert binding["status"]["rateLimit"]["remaining"] == 12
    provider = _conditions(_stored(engine, "ExternalBackendProvider"))
    assert provider["RateLimited"]["status"] == "True"
    assert provider["ConflictsPresent"]["status"] == "True"

    with session_scope(engine) as session:
        states = get_resources(session, "ExternalSyncState", NAMESPACE)
    assert len(states) == 4
    for doc in states:
        state = ExternalSyncState.model_validate(doc)  # every stored row is a valid resource
        assert state.status.queue_depth == 3
        assert state.status.rate_limit is not None
        assert (state.status.rate_limit.remaining, state.status.rate_limit.limit) == (12, 5000)
        assert state.status.rate_limit.reset_at == reset
        assert state.spec.scope == "a5c-ai/krate"
        assert doc["metadata"]["labels"]["krate.a5c.ai/org"] == ORG
        assert doc["metadata"]["labels"]["krate.a5c.ai/repository"] == "krate"
        assert doc["metadata"]["labels"]["krate.a5c.ai/external-owner"] == "a5c-ai"
    phases = {d["spec"]["resourceKind"]: d["status"]["phase"] for d in states}
    assert phases == {
        "Issue": "Current",
        "Pipeline": "Current",
        "Repository": "Current",
        "PullRequest": "RateLimited",
    }


@pytest.mark.parametrize(
    ("workflow_phase", "paused", "errors"),
    [
        ("Pending", None, False),
        ("Syncing", None, False),
        ("Ready", None, False),
        ("Degraded", None, True),
        ("Paused", "maintenance", False),
    ],
)
async def test_every_stored_sync_state_validates_against_the_resource_model(
    engine: Engine, workflow_phase: str, paused: str | None, errors: bool
) -> None:
    cursors = [*CURSORS, _cursor("issueTracking", "Comment", synced=False)]
    cursors.append(cursors.pop(0).model_copy(update={"next_page": "2"}))
    await _mirror(
        engine,
        phase=workflow_phase,
        cursors=cursors,
        paused_reason=paused,
        scope_errors={cursors[0].scope.key: "500 boom"} if errors else {},
        next_backfill_at=T0 + timedelta(minutes=15),
    )
    with session_scope(engine) as session:
        states = get_resources(session, "ExternalSyncState")
    assert len(states) == len(cursors)
    for doc in states:
        ExternalSyncState.model_validate(doc)
    ExternalBackendBinding.model_validate(_stored(engine, "ExternalBackendBinding"))
    ExternalBackendProvider.model_validate(_stored(engine, "ExternalBackendProvider"))


def _delivery(name: str, phase: str) -> dict[str, Any]:
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalWebhookDelivery",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "organizationRef": ORG,
            "providerRef": PROVIDER,
            "bindingRef": BINDING,
            "deliveryId": str(uuid.uuid4()),
            "eventType": "issues",
            "receivedAt": T0.isoformat(),
            "processing": {"phase": phase, "attempts": 0},
        },
    }


def _conflict() -> dict[str, Any]:
    return {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalSyncConflict",
        "metadata": {"name": "issue-1", "namespace": NAMESPACE},
        "spec": {
            "organizationRef": ORG,
            "providerRef": PROVIDER,
            "bindingRef": BINDING,
            "target": {"kind": "Issue", "name": "github-a5c-a5c-ai-krate-1"},
        },
        "status": {"phase": "Open"},
    }


# -- the workflow, end to end -----------------------------------------------------------------


class RefusingThenAccepting:
    """A provider that answers 401 until `fixed` is set."""

    def __init__(self) -> None:
        self.fixed = False

    @activity.defn(name="backfill_page")
    async def backfill_page(self, input: BackfillPageInput) -> BackfillPageResult:
        if not self.fixed:
            raise ApplicationError(
                "401 Bad credentials", type="ProviderAuthError", non_retryable=True
            )
        cursor = input.cursor.model_copy(
            update={"pages": input.cursor.pages + 1, "last_pass_completed_at": T0}
        )
        return BackfillPageResult(cursor=cursor, fetched=1, inserted=1, done=True)


async def _until(check: Any, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "never held"
        await asyncio.sleep(0.1)


async def test_the_workflow_reports_a_401_and_the_recovery(
    engine: Engine, time_skipping_env: WorkflowEnvironment
) -> None:
    provider = RefusingThenAccepting()
    mirror = SyncStateActivities(lambda: engine)

    def auth() -> str | None:
        status = _stored(engine, "ExternalBackendBinding").get("status") or {}
        found = {c["type"]: c for c in status.get("conditions", [])}.get("AuthReady")
        return None if found is None else str(found["status"])

    config = BindingSyncConfig(
        binding=_ref(),
        interfaces=[InterfaceConfig(name="issueTracking", mode="bidirectional")],
        repositories=[("a5c-ai", "krate")],
        search_attributes=False,
    )
    async with new_worker(
        time_skipping_env.client,
        BindingSyncWorkflow,
        activities=[provider.backfill_page, mirror.mirror_sync_state],
    ) as worker:
        handle = await time_skipping_env.client.start_workflow(
            BindingSyncWorkflow.run,
            BindingSyncInput(config=config),
            id=workflow_id(ORG, f"{BINDING}-{uuid.uuid4().hex[:8]}"),
            task_queue=worker.task_queue,
        )
        await _until(lambda: auth() == "False")
        got = _conditions(_stored(engine, "ExternalBackendBinding"))
        assert got["AuthReady"]["message"] == "401 Bad credentials"
        assert _stored(engine, "ExternalBackendProvider")["status"]["phase"] == "Error"
        # The scopes that failed before a first page are sync states too, Degraded.
        with session_scope(engine) as session:
            states = get_resources(session, "ExternalSyncState", NAMESPACE)
        assert states
        assert {s["status"]["phase"] for s in states} == {"Degraded"}
        assert {s["status"]["message"] for s in states} == {"401 Bad credentials"}
        provider.fixed = True
        await handle.signal(BindingSyncWorkflow.sync_now)
        await _until(lambda: auth() == "True")
        await handle.terminate()


# -- reading it: the CLI and the API ----------------------------------------------------------


async def test_status_is_readable_with_get_and_the_api(
    engine: Engine, clean_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.test_webhook_helpers import ingress

    await _mirror(engine)
    env = {"KRATE_DATABASE_URL": clean_database, "KRATE_STATE_DIR": str(tmp_path)}
    for kind in ("providers", "bindings"):
        result = run_cli(monkeypatch, "get", kind, "-o", "yaml", env=env)
        assert result.code == 0, result.stderr
        [doc] = [d for d in yaml.safe_load_all(result.stdout) if d]
        assert {c["type"] for c in doc["status"]["conditions"]} >= {"AuthReady", "Ready"}
        assert doc["metadata"]["labels"]["krate.a5c.ai/org"] == ORG  # stamped on apply
    async with ingress(clean_database, tmp_path, client=None) as app:
        headers = {"Authorization": "Bearer viewer-token"}
        for path in ("providers", f"providers/{PROVIDER}", "bindings", f"bindings/{BINDING}"):
            response = await app.http.get(f"/api/v1/orgs/{ORG}/{path}", headers=headers)
            assert response.status_code == 200, path
            body = response.json()
            doc = body["items"][0] if "items" in body else body
            assert _conditions(doc)["Ready"]["status"] == "True"
        missing = await app.http.get(f"/api/v1/orgs/{ORG}/providers/nope", headers=headers)
        assert missing.status_code == 404


def test_apply_stamps_the_required_labels_and_keeps_the_users(clean_database: str) -> None:
    made = make_engine(clean_database)
    binding = copy.deepcopy(_manifest("binding-github-krate.yaml"))
    binding["metadata"]["labels"] = {"team": "forge", "krate.a5c.ai/repository": "krate"}
    with session_scope(made) as session:
        apply_resource(session, _manifest("provider-github.yaml"))
        apply_resource(session, binding)
        again = apply_resource(session, copy.deepcopy(binding))
        provider = get_resources(session, "ExternalBackendProvider")[0]
        stored = get_resources(session, "ExternalBackendBinding")[0]
    made.dispose()
    assert again.action == "unchanged"  # stamping is deterministic
    assert provider["metadata"]["labels"] == {
        "krate.a5c.ai/org": ORG,
        "krate.a5c.ai/provider": PROVIDER,
        "krate.a5c.ai/interface": "issueTracking.cicd.gitForge",
    }
    assert stored["metadata"]["labels"] == {
        "krate.a5c.ai/org": ORG,
        "krate.a5c.ai/provider": PROVIDER,
        "krate.a5c.ai/interface": "issueTracking.cicd.gitForge",
        "krate.a5c.ai/repository": "krate",
        "krate.a5c.ai/external-owner": "a5c-ai",
        "team": "forge",
    }
