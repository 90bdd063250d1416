"""The table of the nine kinds, and name lookup the way kubectl does it (`get bindings`)."""

from __future__ import annotations

from dataclasses import dataclass

from resources import aggregated, config
from resources.meta import Resource
from resources.wire import API_VERSION

AnyResource = (
    config.ExternalBackendProvider
    | config.ExternalBackendBinding
    | config.ExternalBackendSyncPolicy
    | aggregated.ExternalWebhookDelivery
    | aggregated.ExternalSyncEvent
    | aggregated.ExternalSyncState
    | aggregated.ExternalWriteIntent
    | aggregated.ExternalSyncConflict
    | aggregated.ExternalObjectLink
)


@dataclass(frozen=True)
class KindInfo:
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    model: type[Resource]
    config: bool
    """Config kinds are CRDs in etcd; aggregated kinds are served from Postgres."""
    api_version: str = API_VERSION

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this kind answers to, lower case."""
        found = [self.kind, f"{self.kind}s", self.plural, self.singular, *self.short_names]
        return tuple(dict.fromkeys(name.lower() for name in found))


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "ExternalBackendProvider",
        "providers",
        "provider",
        ("ebp", "backendprovider", "backendproviders"),
        config.ExternalBackendProvider,
        config=True,
    ),
    KindInfo(
        "ExternalBackendBinding",
        "bindings",
        "binding",
        ("ebb", "backendbinding", "backendbindings"),
        config.ExternalBackendBinding,
        config=True,
    ),
    KindInfo(
        "ExternalBackendSyncPolicy",
        "syncpolicies",
        "syncpolicy",
        ("ebsp", "policy", "policies", "externalbackendsyncpolicies"),
        config.ExternalBackendSyncPolicy,
        config=True,
    ),
    KindInfo(
        "ExternalWebhookDelivery",
        "deliveries",
        "delivery",
        ("webhookdelivery", "webhookdeliveries", "externalwebhookdeliveries", "ewd"),
        aggregated.ExternalWebhookDelivery,
        config=False,
    ),
    KindInfo(
        "ExternalSyncEvent",
        "events",
        "event",
        ("syncevent", "syncevents", "ese"),
        aggregated.ExternalSyncEvent,
        config=False,
    ),
    KindInfo(
        "ExternalSyncState",
        "syncstates",
        "syncstate",
        ("state", "states", "ess"),
        aggregated.ExternalSyncState,
        config=False,
    ),
    KindInfo(
        "ExternalWriteIntent",
        "writeintents",
        "writeintent",
        ("intent", "intents", "ewi"),
        aggregated.ExternalWriteIntent,
        config=False,
    ),
    KindInfo(
        "ExternalSyncConflict",
        "conflicts",
        "conflict",
        ("syncconflict", "syncconflicts", "esc"),
        aggregated.ExternalSyncConflict,
        config=False,
    ),
    KindInfo(
        "ExternalObjectLink",
        "objectlinks",
        "objectlink",
        ("link", "links", "eol"),
        aggregated.ExternalObjectLink,
        config=False,
    ),
)

_BY_NAME: dict[str, KindInfo] = {name: info for info in KINDS for name in info.names}
_BY_KIND: dict[str, KindInfo] = {info.kind: info for info in KINDS}


class UnknownKindError(LookupError):
    """A name that is not one of the nine kinds; the message lists the accepted names."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown resource type {name!r}; use one of: {', '.join(valid_kind_names())}"
        )


def valid_kind_names() -> list[str]:
    """The short list shown to users: plural and kind of each."""
    return [f"{info.plural} ({info.kind})" for info in KINDS]


def lookup_kind(name: str) -> KindInfo:
    """Find a kind by kind name, plural, singular or short name, ignoring case.

    Raises UnknownKindError (a LookupError) naming the accepted names.
    """
    found = _BY_NAME.get(name.strip().lower())
    if found is None:
        raise UnknownKindError(name)
    return found


def kind_info(kind: str) -> KindInfo | None:
    """Exact `kind:` value of a manifest (case-sensitive, as the API server treats it)."""
    return _BY_KIND.get(kind)
