"""Custom search attributes that let the Temporal Web UI filter Krate workflows.

One list, used by workflows (to upsert them) and by the dev stack and tests (to register them).
"""

from __future__ import annotations

from typing import Any

from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

KRATE_ORG = SearchAttributeKey.for_keyword("KrateOrg")
KRATE_PROVIDER = SearchAttributeKey.for_keyword("KrateProvider")
KRATE_BINDING = SearchAttributeKey.for_keyword("KrateBinding")
# A binding spans several interfaces; a keyword list lets `KrateInterface = "cicd"` match it.
KRATE_INTERFACE = SearchAttributeKey.for_keyword_list("KrateInterface")
KRATE_PHASE = SearchAttributeKey.for_keyword("KratePhase")

ALL_KEYS = (KRATE_ORG, KRATE_PROVIDER, KRATE_BINDING, KRATE_INTERFACE, KRATE_PHASE)


def for_object(
    org: str,
    phase: str,
    provider: str | None = None,
    binding: str | None = None,
    interface: str | None = None,
) -> TypedSearchAttributes:
    """The attributes a workflow about one object (a conflict) starts with."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(KRATE_ORG, org),
        SearchAttributePair(KRATE_PHASE, phase),
    ]
    if provider:
        pairs.append(SearchAttributePair(KRATE_PROVIDER, provider))
    if binding:
        pairs.append(SearchAttributePair(KRATE_BINDING, binding))
    if interface:
        pairs.append(SearchAttributePair(KRATE_INTERFACE, [interface]))
    return TypedSearchAttributes(pairs)


def cli_type(key: SearchAttributeKey[Any]) -> str:
    """The type name the `temporal` command line uses for `key` (Keyword, KeywordList)."""
    return (
        "KeywordList"
        if key.indexed_value_type == SearchAttributeIndexedValueType.KEYWORD_LIST
        else "Keyword"
    )


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={cli_type(key)}"]
    return flags
