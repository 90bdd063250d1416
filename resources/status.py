"""Provider and binding status (`phase` and the spec's ten conditions) from what the service
observed. Pure functions: the sync-state mirror gathers the observations and writes the result.

Conditions follow Kubernetes' `meta.SetStatusCondition`: `lastTransitionTime` moves only when a
condition's status changes; a new reason or message alone keeps it.

Bindings:
- `AuthReady` False with the provider's message after a 401/403 (auth or permission error);
  True once a provider call succeeded; Unknown before any call.
- `InstallationReady`: for an App installation, follows AuthReady (the installation token is
  the credential); without one, True with reason `NotRequired`.
- `IssueTrackingReady`, `CicdReady`, `GitForgeReady` (each enabled interface): False when a
  scope of it failed (its message), True when all its scopes synced, Unknown before.
- `WebhookReady`: as the workflow last reported webhook processing; Unknown before a delivery.
- `RateLimited` True with the reset time while backfill waits for it.
- `BackfillHealthy` False when any scope failed.
- `ConflictsPresent` True while conflicts of the binding are open (it does not make the binding
  un-Ready: syncing goes on, the conflicts wait for a person).
- `Ready` the summary: True when every condition above that can be False is not, and the
  binding is neither paused nor rate limited.

A provider rolls its bindings up: a readiness condition is False if any binding's is False
(naming the bindings), True if all are True, Unknown otherwise; `RateLimited` and
`ConflictsPresent` are True if any binding's is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from resources.conditions import Condition, ConditionStatus, ConditionType
from resources.interfaces import INTERFACE_ORDER, Interface
from resources.phases import ConfigPhase

T, F, U = ConditionStatus.TRUE, ConditionStatus.FALSE, ConditionStatus.UNKNOWN

INTERFACE_CONDITIONS: dict[Interface, ConditionType] = {
    Interface.ISSUE_TRACKING: ConditionType.ISSUE_TRACKING_READY,
    Interface.CICD: ConditionType.CICD_READY,
    Interface.GIT_FORGE: ConditionType.GIT_FORGE_READY,
}
# Conditions where False means something is wrong (Ready summarises them).
READINESS = (
    ConditionType.AUTH_READY,
    ConditionType.INSTALLATION_READY,
    ConditionType.WEBHOOK_READY,
    *INTERFACE_CONDITIONS.values(),
    ConditionType.BACKFILL_HEALTHY,
)
# Conditions where True is the news (a provider has it when any binding has it).
ALERTS = (ConditionType.RATE_LIMITED, ConditionType.CONFLICTS_PRESENT)
# Error types (ApplicationError.type) that mean the credential was refused: 401 and 403.
AUTH_ERROR_TYPES = frozenset({"ProviderAuthError", "ProviderPermissionError"})


class ScopeObservation(BaseModel):
    """One backfill scope as the workflow last reported it."""

    interface: str
    error: str | None = None
    error_type: str | None = None
    synced: bool = False
    """A page of it was fetched (the provider answered)."""


class BindingObservation(BaseModel):
    """What the service saw of one binding; the input of `binding_status`."""

    workflow_phase: str
    interfaces: list[str] = Field(default_factory=list)
    """The binding's enabled interfaces."""
    scopes: list[ScopeObservation] = Field(default_factory=list)
    installation: bool = False
    """The credential is an App installation (GitHub App, ...)."""
    webhook: Condition | None = None
    """WebhookReady as the workflow reported it, if any delivery was processed."""
    paused_reason: str | None = None
    rate_limited_until: datetime | None = None
    rate_limit_message: str | None = None
    open_conflicts: int = 0
    generation: int | None = None


def set_condition(
    previous: Iterable[Condition],
    type_: ConditionType,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    *,
    observed_generation: int | None = None,
) -> Condition:
    """The condition as it now stands; its transition time kept unless the status changed."""
    before = next((c for c in previous if c.type == type_), None)
    since = before.last_transition_time if before is not None and before.status == status else None
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=since or now,
        observed_generation=observed_generation,
    )


def parse_conditions(raw: Any) -> list[Condition]:
    """Conditions as stored in a status (wire shape); unreadable entries are dropped."""
    out: list[Condition] = []
    for item in raw if isinstance(raw, list) else []:
        try:
            out.append(Condition.model_validate(item))
        except ValueError:
            continue
    return out


def _auth(obs: BindingObservation) -> tuple[ConditionStatus, str, str]:
    refused = [s for s in obs.scopes if s.error_type in AUTH_ERROR_TYPES]
    if refused:
        return F, "CredentialsRefused", refused[0].error or "the provider refused the credentials"
    if any(s.synced for s in obs.scopes):
        return T, "Authenticated", "the provider accepted the credentials"
    return U, "NotYetUsed", "no provider call has been made yet"


def _interface(obs: BindingObservation, interface: str) -> tuple[ConditionStatus, str, str]:
    scopes = [s for s in obs.scopes if s.interface == interface]
    failed = [s for s in scopes if s.error is not None]
    if failed:
        return F, "ScopeFailed", f"{len(failed)} of {len(scopes)} scopes failed: {failed[0].error}"
    if scopes and all(s.synced for s in scopes):
        return T, "Synced", f"{len(scopes)} scopes synced"
    return U, "NotYetSynced", "backfill has not reached every scope yet"


def binding_status(
    obs: BindingObservation, previous: Sequence[Condition], now: datetime
) -> dict[str, Any]:
    """The binding's `status` (wire shape): phase, conditions, observedGeneration."""
    found: list[tuple[ConditionType, ConditionStatus, str, str]] = []
    auth = _auth(obs)
    found.append((ConditionType.AUTH_READY, *auth))
    if obs.installation:
        found.append((ConditionType.INSTALLATION_READY, auth[0], auth[1], auth[2]))
    else:
        found.append(
            (ConditionType.INSTALLATION_READY, T, "NotRequired", "the credential is not an app")
        )
    if obs.webhook is not None:
        hook = obs.webhook
        found.append(
            (ConditionType.WEBHOOK_READY, hook.status, hook.reason or "", hook.message or "")
        )
    else:
        found.append((ConditionType.WEBHOOK_READY, U, "NoDeliveries", "no delivery processed yet"))
    for interface in INTERFACE_ORDER:
        if interface.value in obs.interfaces:
            found.append((INTERFACE_CONDITIONS[interface], *_interface(obs, interface.value)))
    failed = [s for s in obs.scopes if s.error is not None]
    if failed:
        found.append(
            (ConditionType.BACKFILL_HEALTHY, F, "ScopeFailed", failed[0].error or "a scope failed")
        )
    elif obs.scopes:
        found.append((ConditionType.BACKFILL_HEALTHY, T, "AllScopesSynced", ""))
    else:
        found.append((ConditionType.BACKFILL_HEALTHY, U, "NotStarted", "no scope walked yet"))
    if obs.rate_limited_until is not None:
        message = obs.rate_limit_message or "the provider's rate limit is spent"
        reset = obs.rate_limited_until.isoformat()
        if reset not in message:
            message = f"{message}; resets at {reset}"
        found.append((ConditionType.RATE_LIMITED, T, "ProviderRateLimit", message))
    else:
        found.append((ConditionType.RATE_LIMITED, F, "BudgetAvailable", ""))
    if obs.open_conflicts:
        found.append(
            (
                ConditionType.CONFLICTS_PRESENT,
                T,
                "OpenConflicts",
                f"{obs.open_conflicts} open conflict(s) wait for a resolution",
            )
        )
    else:
        found.append((ConditionType.CONFLICTS_PRESENT, F, "NoOpenConflicts", ""))
    phase = _binding_phase(obs, auth[0])
    found.append((ConditionType.READY, *_ready(found, phase)))
    conditions = [
        set_condition(previous, t, s, r, m, now, observed_generation=obs.generation)
        for t, s, r, m in found
    ]
    status: dict[str, Any] = {
        "phase": phase.value,
        "conditions": [
            c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions
        ],
    }
    if obs.generation is not None:
        status["observedGeneration"] = obs.generation
    return status


def _binding_phase(obs: BindingObservation, auth: ConditionStatus) -> ConfigPhase:
    if obs.paused_reason is not None:
        return ConfigPhase.PAUSED
    if auth is F:
        return ConfigPhase.ERROR  # nothing can sync until the credential is fixed
    try:
        return ConfigPhase(obs.workflow_phase)
    except ValueError:
        return ConfigPhase.PENDING


def _ready(
    found: Sequence[tuple[ConditionType, ConditionStatus, str, str]], phase: ConfigPhase
) -> tuple[ConditionStatus, str, str]:
    for type_, status, reason, message in found:
        if type_ in READINESS and status is F:
            return F, f"{type_.value}False", message or reason
    if phase is ConfigPhase.READY:
        return T, "Ready", ""
    if phase in (ConfigPhase.PENDING, ConfigPhase.SYNCING):
        return U, phase.value, "the first backfill pass is under way"
    return F, phase.value, f"the phase is {phase.value}"


_PHASE_ORDER = (
    ConfigPhase.ERROR,
    ConfigPhase.DEGRADED,
    ConfigPhase.RATE_LIMITED,
    ConfigPhase.SYNCING,
    ConfigPhase.PENDING,
    ConfigPhase.PAUSED,
    ConfigPhase.READY,
)


def provider_status(
    bindings: Mapping[str, Mapping[str, Any]],
    previous: Sequence[Condition],
    now: datetime,
    *,
    generation: int | None = None,
) -> dict[str, Any]:
    """A provider's status rolled up from its bindings' statuses (binding name -> status)."""
    by_binding = {name: parse_conditions(s.get("conditions")) for name, s in bindings.items()}
    found: list[tuple[ConditionType, ConditionStatus, str, str]] = []
    types = [t for t in ConditionType if t is not ConditionType.READY]
    for type_ in types:
        seen = {name: c for name, conds in by_binding.items() for c in conds if c.type == type_}
        if not seen:
            continue
        if type_ in ALERTS:
            hit = sorted(n for n, c in seen.items() if c.status is T)
            if hit:
                message = f"{', '.join(hit)}: {seen[hit[0]].message or ''}".rstrip(": ")
                found.append((type_, T, seen[hit[0]].reason or "", message))
            else:
                found.append((type_, F, "NoBinding", ""))
            continue
        bad = sorted(n for n, c in seen.items() if c.status is F)
        if bad:
            message = f"{', '.join(bad)}: {seen[bad[0]].message or ''}".rstrip(": ")
            found.append((type_, F, seen[bad[0]].reason or "", message))
        elif all(c.status is T for c in seen.values()):
            found.append((type_, T, "AllBindings", f"{len(seen)} binding(s)"))
        else:
            found.append((type_, U, "SomeBindingsUnknown", ""))
    phases = [_phase_of(s.get("phase")) for s in bindings.values()]
    phase = min(phases, key=_PHASE_ORDER.index) if phases else ConfigPhase.PENDING
    if not bindings:
        found.append((ConditionType.READY, U, "NoBindings", "no binding uses this provider yet"))
    else:
        found.append((ConditionType.READY, *_ready(found, phase)))
    conditions = [
        set_condition(previous, t, s, r, m, now, observed_generation=generation)
        for t, s, r, m in found
    ]
    status: dict[str, Any] = {
        "phase": phase.value,
        "conditions": [
            c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions
        ],
        "bindings": len(bindings),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def _phase_of(value: Any) -> ConfigPhase:
    try:
        return ConfigPhase(value)
    except ValueError:
        return ConfigPhase.PENDING
