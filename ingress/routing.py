"""Which binding takes a delivery: by the repository's stable id, by its name only before that.

A binding names its repository by path (`spec.externalRef`: owner and name), and a rename or a
transfer changes the path, not the provider's id of the repository. So once a binding has synced
its repository (the Repository projection row carries the id and the binding), deliveries are
matched by `repository.id`: under the new name, under the old one, or after a transfer. The
name is used only for an id nobody knows yet (the first delivery before the first sync), and
then only if the binding it names has not already synced another repository by that name: a
repository that took over a freed name is a different repository.

An owner-wide binding (externalRef with an owner and no repository) takes what no binding of
one repository takes among the deliveries of its owner: any repository of the owner, and the
owner's events that name no repository (`installation_repositories`). A transfer's former
owner counts too, so its binding learns that the repository left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingress.lookup import ProviderInfo, binding_key, bindings_by_repository


@dataclass(frozen=True)
class BindingRoutes:
    """A provider's bindings, indexed for matching deliveries."""

    by_repository: dict[tuple[str, str], dict[str, Any]]
    by_name: dict[str, dict[str, Any]]
    # Repository native id -> name of the binding that synced it.
    repository_ids: dict[str, str] = field(default_factory=dict)
    # Binding name -> the native ids it synced.
    ids_of_binding: dict[str, frozenset[str]] = field(default_factory=dict)
    # Owner (lower case) -> its owner-wide binding (the first one in name order).
    by_owner: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        provider: ProviderInfo,
        bindings: Sequence[dict[str, Any]],
        repository_ids: Mapping[str, str] | None = None,
    ) -> BindingRoutes:
        by_name = {
            str(b["metadata"]["name"]): b
            for b in bindings
            if b["spec"].get("providerRef") == provider.name
        }
        ids = {k: v for k, v in (repository_ids or {}).items() if v in by_name}
        of_binding: dict[str, set[str]] = {}
        for native_id, binding in ids.items():
            of_binding.setdefault(binding, set()).add(native_id)
        by_owner: dict[str, dict[str, Any]] = {}
        for candidate in sorted(by_name.values(), key=lambda b: str(b["metadata"]["name"])):
            owner = owner_wide(candidate)
            if owner is not None:
                by_owner.setdefault(owner.lower(), candidate)
        return cls(
            by_repository=bindings_by_repository(provider, bindings),
            by_name=by_name,
            repository_ids=ids,
            ids_of_binding={k: frozenset(v) for k, v in of_binding.items()},
            by_owner=by_owner,
        )

    def binding_for(
        self,
        repository: str | None,
        repository_id: str | None = None,
        owners: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        """The binding of the repository with this id, else of this "owner/name", else the
        owner-wide binding of its owner or of one of `owners` (the accounts the delivery
        concerns)."""
        found = self._repository_binding(repository, repository_id)
        if found is not None:
            return found
        candidates = [repository.partition("/")[0]] if repository else []
        for owner in (*candidates, *owners):
            binding = self.by_owner.get(owner.lower())
            if binding is not None:
                return binding
        return None

    def _repository_binding(
        self, repository: str | None, repository_id: str | None
    ) -> dict[str, Any] | None:
        if repository_id is not None:
            bound = self.repository_ids.get(repository_id)
            if bound is not None:
                return self.by_name[bound]
        if repository is None:
            return None
        owner, _, name = repository.partition("/")
        binding = self.by_repository.get(binding_key(owner, name))
        if binding is None or repository_id is None:
            return binding
        if self.ids_of_binding.get(str(binding["metadata"]["name"])):
            return None  # the binding follows another repository (id) that had this name
        return binding


def owner_wide(binding: dict[str, Any]) -> str | None:
    """The owner of an owner-wide binding (no repository, or "*"), as planning reads it."""
    ref = binding["spec"].get("externalRef") or {}
    owner, repository = ref.get("owner"), ref.get("repository")
    if not owner or repository not in (None, "", "*"):
        return None
    return str(owner)
