"""Custom search attributes that let the Temporal Web UI filter Krate workflows.

One list, used by workflows (to upsert them) and by the dev stack and tests (to register them).
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

KRATE_ORG = SearchAttributeKey.for_keyword("KrateOrg")
KRATE_PROVIDER = SearchAttributeKey.for_keyword("KrateProvider")
KRATE_BINDING = SearchAttributeKey.for_keyword("KrateBinding")
KRATE_INTERFACE = SearchAttributeKey.for_keyword("KrateInterface")
KRATE_PHASE = SearchAttributeKey.for_keyword("KratePhase")

ALL_KEYS = (KRATE_ORG, KRATE_PROVIDER, KRATE_BINDING, KRATE_INTERFACE, KRATE_PHASE)


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Keyword` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
