"""Write intents: create, list, show and decide. Shared by `krate-sync intents`, the HTTP API and
other controllers (conflict resolution's apply-krate, local edits of projected objects).

Creating an intent validates it (raw Secret values, operations the provider type lacks, writes
to an interface Krate does not write to, the sync policy's write mode), computes its request
digest and idempotency key, stores the ExternalWriteIntent row with its first audit entry, and
returns what starts its WriteIntentWorkflow (`write/{org}/{intent}`). Decisions are the
workflow's Updates, so the Web UI, `temporal workflow update`, the command line and the API all
land in the same validator.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.writes_models import (
    INTENT_KIND,
    OPERATIONS,
    SOURCE_AGENT,
    SOURCE_LOCAL_EDIT,
    SOURCE_USER,
    DecisionInput,
    IntentStatus,
    InvalidParameters,
    WriteIntentInput,
    kebab,
    native_target,
    parse_parameters,
    target_name,
)
from resources.config import (
    ExternalBackendBinding,
    ExternalBackendProvider,
    ExternalBackendSyncPolicy,
)
from resources.interfaces import Interface, InterfaceMode, WritePolicyMode
from resources.loader import ManifestError, manifest_from_dict
from resources.provider_type import ProviderTypeLookup
from resources.secret_scan import find_raw_secrets, is_secret_key
from resources.validation import validate
from resources.wire import org_namespace
from starter.reconcile import plan_binding
from store import canonical
from store.aggregated import get_aggregated, insert_aggregated, manifest_from_row
from store.audit import record_audit
from store.models.aggregated import WriteIntent
from store.resources import get_resources
from workflows import search_attributes as sa
from workflows.write_intent import WriteIntentWorkflow, workflow_id

REDACTED = "***"
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


class IntentRejected(ValueError):
    """The intent cannot be created or decided; the message says why and what to do."""


class IntentNotFound(IntentRejected):
    pass


@dataclass(frozen=True)
class WriteIntentRequest:
    """What a caller asks for. `parameters` are the operation's (see OPERATIONS)."""

    org: str
    binding: str
    operation: str
    parameters: dict[str, Any]
    actor: str
    source_kind: str = SOURCE_USER
    repository: str | None = None
    """`owner/name`; defaults to the binding's externalRef."""
    idempotency_key: str | None = None
    """A caller's key makes creation idempotent: the same key returns the existing intent."""
    name: str | None = None
    target_kind: str | None = None
    target_name: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreatedWriteIntent:
    name: str
    namespace: str
    org: str
    workflow_id: str
    input: WriteIntentInput
    manifest: dict[str, Any]
    created: bool
    """False when the idempotency key named an intent that already existed."""


# ------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Config:
    binding: ExternalBackendBinding
    provider: ExternalBackendProvider
    policy: ExternalBackendSyncPolicy | None
    provider_doc: dict[str, Any]


def _spec_only(doc: dict[str, Any]) -> Any:
    """The typed resource of a stored manifest, its status left out: controllers write status
    (a live phase such as Syncing) that the config models need not accept."""
    return manifest_from_dict({k: v for k, v in doc.items() if k != "status"}, source="stored")


def _load_config(session: Session, org: str, binding: str) -> _Config:
    namespace = org_namespace(org)
    docs = get_resources(session, "ExternalBackendBinding", namespace, binding)
    if not docs:
        raise IntentNotFound(f"binding {binding!r} not found in {namespace}; apply it first")
    bound = _spec_only(docs[0]).model
    assert isinstance(bound, ExternalBackendBinding)
    provider_docs = get_resources(
        session, "ExternalBackendProvider", namespace, bound.spec.provider_ref
    )
    if not provider_docs:
        raise IntentNotFound(
            f"provider {bound.spec.provider_ref!r} of binding {binding!r} is not applied"
        )
    provider = _spec_only(provider_docs[0]).model
    assert isinstance(provider, ExternalBackendProvider)
    policy: ExternalBackendSyncPolicy | None = None
    for doc in get_resources(session, "ExternalBackendSyncPolicy", namespace):
        model = _spec_only(doc).model
        if isinstance(model, ExternalBackendSyncPolicy) and (
            model.spec.provider_ref == provider.metadata.name
        ):
            policy = model
            break
    return _Config(bound, provider, policy, provider_docs[0])


def _registry(registry: ProviderTypeLookup | None) -> ProviderTypeLookup:
    if registry is not None:
        return registry
    from providers.registry import load_registry

    return load_registry()


# ------------------------------------------------------------------------------- creating


def request_digest(
    *, provider: str, binding: str, operation: str, repository: str, parameters: dict[str, Any]
) -> str:
    """sha256 of the canonical request (sorted keys, no spaces): the same request, same digest."""
    return canonical.digest(
        {
            "provider": provider,
            "binding": binding,
            "operation": operation,
            "repository": repository,
            "parameters": parameters,
        }
    )


def redact(value: Any) -> Any:
    """A preview of `value` with anything credential-like replaced by "***"."""
    if isinstance(value, dict):
        return {
            k: REDACTED if is_secret_key(str(k)) and isinstance(v, str | int) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and any(True for _ in find_raw_secrets({"v": value}, "")):
        return REDACTED
    return value


def _dns(text: str) -> str:
    return _NOT_DNS.sub("-", text.lower()).strip("-")


def _approval_required(policy: ExternalBackendSyncPolicy | None, source_kind: str) -> bool:
    # No sync policy: reviewed-write, the safe default for a write that nobody configured.
    mode = policy.spec.write_policy.default_mode if policy else WritePolicyMode.REVIEWED_WRITE
    if mode == WritePolicyMode.REVIEWED_WRITE:
        return True
    agent_rule = policy.spec.write_policy.agent_write_requires_approval if policy else True
    return source_kind == SOURCE_AGENT and agent_rule


def create_write_intent(
    session: Session,
    request: WriteIntentRequest,
    *,
    registry: ProviderTypeLookup | None = None,
    search_attributes: bool = True,
) -> CreatedWriteIntent:
    """Validate and store an ExternalWriteIntent (in the caller's transaction) with its audit
    entry; start its workflow afterwards with `start_write_intent` (or as a child workflow).

    Raises IntentRejected (IntentNotFound for a missing binding) with a message naming the
    problem and the fix.
    """
    config = _load_config(session, request.org, request.binding)
    spec_binding = config.binding.spec
    op = OPERATIONS.get(request.operation)
    if op is None:
        raise IntentRejected(
            f"operation {request.operation!r} is not a write Krate performs; one of: "
            + ", ".join(OPERATIONS)
        )
    findings = list(find_raw_secrets(request.parameters, "parameters"))
    if findings:
        raise IntentRejected(
            "a write intent must not carry Secret values: "
            + "; ".join(f"{f.path}: {f.reason}" for f in findings)
            + " (reference a Secret instead, and rotate the credential if it was real)"
        )
    try:
        params = parse_parameters(request.operation, request.parameters)
    except InvalidParameters as error:
        raise IntentRejected(str(error)) from None
    interface = Interface(op.interface)
    chosen = spec_binding.interfaces.get(interface)
    if chosen is None or not chosen.enabled:
        raise IntentRejected(
            f"binding {request.binding} does not enable {interface.value}, which "
            f"{request.operation} writes to; enable it with mode bidirectional or krate-owned"
        )
    mode = InterfaceMode(chosen.mode)
    if not mode.writes_to_provider:
        what = "read-only (mirrored)" if mode == InterfaceMode.MIRRORED else mode.value
        raise IntentRejected(
            f"binding {request.binding} syncs {interface.value} in {what} mode: Krate does not "
            "write to the provider for it; set the interface's mode to bidirectional or "
            "krate-owned to allow writes"
        )
    if (
        config.policy is not None
        and config.policy.spec.write_policy.default_mode == WritePolicyMode.READ_ONLY
    ):
        raise IntentRejected(
            f"sync policy {config.policy.metadata.name} has writePolicy.defaultMode read-only: "
            "no write reaches the provider; set it to reviewed-write or write-through"
        )
    repository = request.repository or (
        f"{spec_binding.external_ref.owner}/{spec_binding.external_ref.repository}"
        if spec_binding.external_ref.owner and spec_binding.external_ref.repository
        else None
    )
    if repository is None or repository.count("/") != 1:
        raise IntentRejected("name the repository as owner/name (the binding names none)")
    owner, repo = repository.split("/")
    parameters = params.model_dump(mode="json", exclude_unset=True, by_alias=False)
    for name, value in request.parameters.items():  # keep what the caller set explicitly
        parameters.setdefault(name, value)
    plan = plan_binding(config.binding, config.provider, config.policy)
    ref = plan.config.binding
    digest = request_digest(
        provider=ref.provider,
        binding=ref.binding,
        operation=request.operation,
        repository=repository,
        parameters=parameters,
    )
    target = request.target_name or target_name(request.operation, params, repository)
    short = uuid.uuid4().hex[:12]
    key = request.idempotency_key or f"{request.org}:{target}:{kebab(request.operation)}:{short}"
    namespace = org_namespace(request.org)
    if request.idempotency_key:
        existing = session.exec(
            select(WriteIntent).where(WriteIntent.idempotency_key == request.idempotency_key)
        ).first()
        if existing is not None:
            if existing.request_digest != digest:
                raise IntentRejected(
                    f"idempotency key {request.idempotency_key!r} is taken by intent "
                    f"{existing.name} with a different request"
                )
            return _existing(existing, ref.org, search_attributes)
    name = request.name or _dns(f"{ref.binding}-{kebab(request.operation)}-{target}-{short}")[:63]
    approval_required = _approval_required(config.policy, request.source_kind)
    source_kind = request.source_kind
    workflow_input = WriteIntentInput(
        org=request.org,
        namespace=namespace,
        name=name,
        binding=ref,
        interface=interface.value,
        operation=request.operation,
        owner=owner,
        repository=repo,
        parameters=parameters,
        actor=request.actor,
        source_kind=source_kind,
        approval_required=approval_required,
        idempotency_key=key,
        request_digest=digest,
        search_attributes=search_attributes,
    )
    manifest: dict[str, Any] = {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": INTENT_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "krate.a5c.ai/org": request.org,
                "krate.a5c.ai/provider": ref.provider,
                "krate.a5c.ai/interface": interface.value,
                "krate.a5c.ai/repository": repo,
                "krate.a5c.ai/external-owner": owner,
            },
            "annotations": dict(request.annotations),
        },
        "spec": {
            "organizationRef": request.org,
            "providerRef": ref.provider,
            "bindingRef": ref.binding,
            "interface": interface.value,
            "operation": request.operation,
            "source": {"kind": source_kind, "actor": request.actor},
            "target": {"kind": request.target_kind or op.target_kind, "name": target},
            "nativeTarget": native_target(request.operation, params, owner, repo),
            "requestDigest": digest,
            "parameters": parameters,
            "approvalPolicy": {"required": approval_required},
            "idempotencyKey": key,
        },
        "status": {
            "phase": "Pending",
            "requestPreview": redact(parameters),
            # Lets a repeated idempotency key start the very same workflow again.
            "workflowInput": workflow_input.model_dump(mode="json"),
        },
    }
    _validate_manifest(manifest, config, registry)
    try:
        with session.begin_nested():
            row = insert_aggregated(session, manifest)
    except IntegrityError:
        raise IntentRejected(
            f"write intent {name} or idempotency key {key} exists already"
        ) from None
    record_audit(
        session,
        actor=request.actor,
        action="intent.created",
        subject_kind=INTENT_KIND,
        subject_namespace=namespace,
        subject_name=name,
        org=request.org,
        provider_ref=ref.provider,
        details={
            "operation": request.operation,
            "sourceKind": source_kind,
            "requestDigest": digest,
            "approvalRequired": approval_required,
            "preview": redact(parameters),
        },
    )
    return CreatedWriteIntent(
        name=name,
        namespace=namespace,
        org=request.org,
        workflow_id=workflow_id(request.org, name),
        input=workflow_input,
        manifest=manifest_from_row(row),
        created=True,
    )


def _existing(row: WriteIntent, org: str, search_attributes: bool) -> CreatedWriteIntent:
    """The intent an idempotency key already names (its workflow input rebuilt from the row)."""
    manifest = manifest_from_row(row)
    stored = manifest.get("status", {}).get("workflowInput")
    if isinstance(stored, dict):
        workflow_input = WriteIntentInput.model_validate(stored)
    else:
        raise IntentRejected(f"intent {row.name} exists but has no workflow input recorded")
    return CreatedWriteIntent(
        name=row.name,
        namespace=row.namespace,
        org=org,
        workflow_id=workflow_id(org, row.name),
        input=workflow_input.model_copy(update={"search_attributes": search_attributes}),
        manifest=manifest,
        created=False,
    )


def _validate_manifest(
    manifest: dict[str, Any], config: _Config, registry: ProviderTypeLookup | None
) -> None:
    """The spec's rules (validation.py): raw secrets anywhere, operations the type lacks."""
    try:
        parsed = manifest_from_dict(manifest, source="intent")
        provider = _spec_only(config.provider_doc)
    except ManifestError as error:
        raise IntentRejected(str(error)) from None
    issues = [i for i in validate([parsed], _registry(registry), known=[provider]) if i.is_error]
    if issues:
        raise IntentRejected(
            "; ".join(
                f"{i.field or 'spec'}: {i.message}" + (f" ({i.fix})" if i.fix else "")
                for i in issues
            )
        )


def search_attributes_of(created: CreatedWriteIntent) -> TypedSearchAttributes:
    ref = created.input.binding
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.KRATE_ORG, ref.org),
            SearchAttributePair(sa.KRATE_PROVIDER, ref.provider),
            SearchAttributePair(sa.KRATE_BINDING, ref.binding),
            SearchAttributePair(sa.KRATE_INTERFACE, [created.input.interface]),
            SearchAttributePair(sa.KRATE_PHASE, "Pending"),
        ]
    )


async def start_write_intent(client: Client, task_queue: str, created: CreatedWriteIntent) -> None:
    """Start the intent's workflow; starting it again (same id, running or closed) is a no-op:
    an intent runs once."""
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    try:
        await client.start_workflow(
            WriteIntentWorkflow.run,
            created.input,
            id=created.workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=(
                search_attributes_of(created) if created.input.search_attributes else None
            ),
        )
    except WorkflowAlreadyStartedError:
        pass


def pending_intents(session: Session, org: str | None = None) -> list[CreatedWriteIntent]:
    """Intents stored but never picked up by a workflow (phase Pending): their workflow may not
    have started (Temporal was down when they were created)."""
    statement = select(WriteIntent).where(WriteIntent.phase == "Pending")
    if org:
        statement = statement.where(WriteIntent.namespace == org_namespace(org))
    found = []
    for row in session.exec(statement.order_by(col(WriteIntent.id))):
        stored = manifest_from_row(row).get("status", {}).get("workflowInput")
        if isinstance(stored, dict):
            flag = bool(stored.get("search_attributes", True))
            found.append(_existing(row, row.org, flag))
    return found


async def reconcile_pending_intents(
    engine: Engine, client: Client, task_queue: str, org: str | None = None
) -> list[str]:
    """Start the workflow of every Pending intent (a no-op for those already running or done).
    The worker runs this when it starts; `krate-sync intents reconcile` on demand."""
    from store.db import session_scope

    def load() -> list[CreatedWriteIntent]:
        with session_scope(engine) as session:
            return pending_intents(session, org)

    started = []
    for created in await asyncio.to_thread(load):
        await start_write_intent(client, task_queue, created)
        started.append(created.name)
    return started


async def submit_write_intent(
    engine: Engine,
    client: Client,
    task_queue: str,
    request: WriteIntentRequest,
    *,
    registry: ProviderTypeLookup | None = None,
) -> CreatedWriteIntent:
    """Create (committed in a transaction of its own) and start: the one call for a caller
    outside a workflow, such as an activity holding the engine and `activity.client()`."""
    from store.db import session_scope

    def create() -> CreatedWriteIntent:
        with session_scope(engine) as session:
            return create_write_intent(session, request, registry=registry)

    created = await asyncio.to_thread(create)
    await start_write_intent(client, task_queue, created)
    return created


def intent_for_local_edit(
    session: Session,
    *,
    org: str,
    binding: str,
    kind: str,
    number: int,
    changes: dict[str, Any],
    actor: str,
    mirrored: bool = False,
    repository: str | None = None,
    idempotency_key: str | None = None,
    registry: ProviderTypeLookup | None = None,
    search_attributes: bool = True,
) -> CreatedWriteIntent:
    """The entry point for local edits of projected objects (bidirectional mode): an edit of
    an Issue or PullRequest becomes an updateIssue / updatePullRequest intent. `mirrored` is
    the projection's own flag (an object that only mirrors the provider); such edits and edits
    under a non-writing interface mode are refused."""
    operation = {"Issue": "updateIssue", "PullRequest": "updatePullRequest"}.get(kind)
    if operation is None:
        raise IntentRejected(f"local edits of {kind} are not written back (Issue, PullRequest)")
    if mirrored:
        raise IntentRejected(
            f"{kind} #{number} is a mirrored object: it follows the provider and cannot be "
            "edited in Krate; edit it on the provider, or switch the interface to bidirectional"
        )
    key = "issue" if kind == "Issue" else "pull"
    return create_write_intent(
        session,
        WriteIntentRequest(
            org=org,
            binding=binding,
            operation=operation,
            parameters={key: number, **changes},
            actor=actor,
            source_kind=SOURCE_LOCAL_EDIT,
            repository=repository,
            idempotency_key=idempotency_key,
            target_kind=kind,
        ),
        registry=registry,
        search_attributes=search_attributes,
    )


# ------------------------------------------------------------------------------- reading


def list_intents(
    session: Session, org: str | None = None, phase: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    statement = select(WriteIntent)
    if org:
        statement = statement.where(WriteIntent.namespace == org_namespace(org))
    if phase:
        statement = statement.where(WriteIntent.phase == phase)
    statement = statement.order_by(col(WriteIntent.created_at).desc(), col(WriteIntent.id).desc())
    return [public_manifest(manifest_from_row(row)) for row in session.exec(statement.limit(limit))]


def get_intent(session: Session, org: str, name: str) -> dict[str, Any]:
    row = get_aggregated(session, INTENT_KIND, org_namespace(org), name)
    if row is None:
        raise IntentNotFound(f"write intent {name!r} not found in {org_namespace(org)}")
    return public_manifest(manifest_from_row(row))


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """What people see: the workflow bookkeeping dropped, the request preview redacted."""
    status = manifest.get("status") or {}
    status.pop("workflowInput", None)
    status.pop("seq", None)
    spec = manifest.get("spec") or {}
    if "parameters" in spec:
        spec["parameters"] = redact(spec["parameters"])
    return manifest


def org_of_intent(session: Session, name: str) -> str:
    rows = session.exec(select(WriteIntent).where(WriteIntent.name == name)).all()
    orgs = sorted({row.org for row in rows})
    if not orgs:
        raise IntentNotFound(f"write intent {name!r} not found")
    if len(orgs) > 1:
        raise IntentRejected(f"intent {name!r} exists in orgs {', '.join(orgs)}: pass --org")
    return orgs[0]


# ------------------------------------------------------------------------------- deciding

VERBS = ("approve", "reject", "cancel", "retry")


async def decide(
    client: Client, org: str, name: str, verb: str, actor: str, reason: str | None = None
) -> IntentStatus:
    """Send `verb` (approve, reject, cancel, retry) as an Update to the intent's workflow.

    A refusal by the workflow's validator (self-approval, a finished intent) or an unknown
    intent raises IntentRejected / IntentNotFound with the workflow's own message."""
    if verb not in VERBS:
        raise IntentRejected(f"unknown action {verb!r}; one of {', '.join(VERBS)}")
    handle = client.get_workflow_handle_for(WriteIntentWorkflow.run, workflow_id(org, name))
    update = {
        "approve": WriteIntentWorkflow.approve,
        "reject": WriteIntentWorkflow.reject,
        "cancel": WriteIntentWorkflow.cancel,
        "retry": WriteIntentWorkflow.retry,
    }[verb]
    try:
        result: IntentStatus = await handle.execute_update(
            update, DecisionInput(actor=actor, reason=reason)
        )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise IntentRejected(message) from None
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise IntentNotFound(
                f"no open workflow {workflow_id(org, name)}: the intent is unknown or finished"
            ) from None
        raise
    return result


async def intent_status(client: Client, org: str, name: str) -> IntentStatus:
    handle = client.get_workflow_handle_for(WriteIntentWorkflow.run, workflow_id(org, name))
    try:
        result: IntentStatus = await handle.query(WriteIntentWorkflow.status)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise IntentNotFound(f"no workflow {workflow_id(org, name)}") from None
        raise
    return result
