"""The three sync interfaces and the modes that say who owns the data on each."""

from __future__ import annotations

from enum import StrEnum


class Interface(StrEnum):
    """A family of provider behaviour that Krate syncs."""

    ISSUE_TRACKING = "issueTracking"
    CICD = "cicd"
    GIT_FORGE = "gitForge"


INTERFACE_ORDER: tuple[Interface, ...] = (
    Interface.ISSUE_TRACKING,
    Interface.CICD,
    Interface.GIT_FORGE,
)


class InterfaceMode(StrEnum):
    """Who owns the data of one interface of a binding.

    `read-only` is accepted on input as another name for `mirrored` (the Jira flow of the spec
    says "read-only or bidirectional issue sync").
    """

    MIRRORED = "mirrored"
    EXTERNAL_OWNED = "external-owned"
    BIDIRECTIONAL = "bidirectional"
    KRATE_OWNED = "krate-owned"

    @classmethod
    def _missing_(cls, value: object) -> InterfaceMode | None:
        if isinstance(value, str) and value.strip().lower() == "read-only":
            return cls.MIRRORED
        return None

    @property
    def writes_to_provider(self) -> bool:
        """True when Krate changes flow to the provider in this mode."""
        return self in (InterfaceMode.BIDIRECTIONAL, InterfaceMode.KRATE_OWNED)


READ_MODES: tuple[InterfaceMode, ...] = (InterfaceMode.MIRRORED, InterfaceMode.EXTERNAL_OWNED)
ALL_MODES: tuple[InterfaceMode, ...] = tuple(InterfaceMode)


class WritePolicyMode(StrEnum):
    """How Krate-originated writes reach a provider (ExternalBackendSyncPolicy.writePolicy)."""

    READ_ONLY = "read-only"
    REVIEWED_WRITE = "reviewed-write"
    WRITE_THROUGH = "write-through"


class ConflictResolution(StrEnum):
    """Default resolution of a sync conflict (ExternalBackendSyncPolicy.conflictPolicy)."""

    MANUAL = "manual"
    KEEP_EXTERNAL = "keep-external"
    APPLY_KRATE = "apply-krate"


class ConflictDecision(StrEnum):
    """What a person (or the policy) decided for one ExternalSyncConflict (the UI's actions)."""

    KEEP_EXTERNAL = "keep-external"
    APPLY_KRATE = "apply-krate"
    MANUAL_EDIT = "manual-edit"
    IGNORE_UNSUPPORTED = "ignore-unsupported"
    RETRY_SYNC = "retry-sync"
