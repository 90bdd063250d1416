"""GitHub deliveries that change which repositories an owner-wide binding covers.

`installation_repositories` (repositories added to or removed from an App installation) and
`repository` created, deleted, transferred and renamed. Pure functions, like the normalizer:
the owner-wide binding's workflow applies what comes back (providers/membership.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.membership import RepositoryMembership

Raw = Mapping[str, Any]

# The events worth reading for membership; everything else changes no repository set.
MEMBERSHIP_EVENTS = frozenset({"installation_repositories", "repository"})


def _obj(raw: Raw, key: str) -> Raw:
    value = raw.get(key)
    return value if isinstance(value, Mapping) else {}


def _login(account: Raw) -> str | None:
    login = account.get("login")
    return login if isinstance(login, str) and login else None


def _former_owner(payload: Raw) -> str | None:
    """A transfer's previous owner (`changes.owner.from.user` or `.organization`)."""
    source = _obj(_obj(_obj(payload, "changes"), "owner"), "from")
    return _login(_obj(source, "user")) or _login(_obj(source, "organization"))


def payload_owners(payload: Raw) -> list[str]:
    """The accounts a delivery concerns, for routing it to an owner-wide binding: the
    repository's owner, the App installation's account (installation events name no
    repository), and a transfer's former owner (who learns that the repository left)."""
    found = [
        _login(_obj(_obj(payload, "repository"), "owner")),
        _login(_obj(_obj(payload, "installation"), "account")),
        _former_owner(payload),
    ]
    out: list[str] = []
    for login in found:
        if login is not None and login.lower() not in {o.lower() for o in out}:
            out.append(login)
    return out


def _member(raw: Raw, present: bool, reason: str | None = None) -> RepositoryMembership | None:
    ident, full_name = raw.get("id"), raw.get("full_name")
    if (
        isinstance(ident, bool)
        or not isinstance(ident, int | str)
        or not isinstance(full_name, str)
    ):
        return None
    return RepositoryMembership(
        native_id=str(ident), full_name=full_name, present=present, reason=reason
    )


def _of(owner: str, full_name: str) -> bool:
    return full_name.partition("/")[0].lower() == owner.lower()


def repository_membership(
    event: str, action: str | None, payload: Raw, owner: str
) -> list[RepositoryMembership]:
    """What the delivery says about the repositories of `owner`: joined, left, renamed."""
    if event == "installation_repositories":
        changes: list[RepositoryMembership | None] = []
        for key, present, reason in (
            ("repositories_added", True, None),
            ("repositories_removed", False, "removed from the GitHub App installation"),
        ):
            items = payload.get(key)
            for item in items if isinstance(items, list) else []:
                if isinstance(item, Mapping):
                    changes.append(_member(item, present, reason))
        return [c for c in changes if c is not None and _of(owner, c.full_name)]
    if event != "repository":
        return []
    repository = _obj(payload, "repository")
    found: RepositoryMembership | None = None
    if action in ("created", "renamed"):
        found = _member(repository, True)
    elif action == "deleted":
        found = _member(repository, False, "deleted on GitHub")
    elif action == "transferred":
        new_owner = _login(_obj(repository, "owner"))
        if new_owner is not None and new_owner.lower() == owner.lower():
            found = _member(repository, True)
        elif (_former_owner(payload) or "").lower() == owner.lower():
            found = _member(repository, False, f"transferred to {new_owner}")
            return [found] if found is not None else []
    return [found] if found is not None and _of(owner, found.full_name) else []
