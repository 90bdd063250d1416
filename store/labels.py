"""The spec's required labels of an aggregated row about a provider object (issue 9).

Object links compute the same labels in SQL (store/links.py); this is the Python twin for rows
written one at a time (conflicts).
"""

from __future__ import annotations

from resources.labels import required_labels


def row_labels(
    org: str, provider: str, interface: str | None, repository_path: object = None
) -> dict[str, str]:
    """org, provider, interface, and for a repository-scoped object (its provider path,
    "owner/name") the repository name and the external owner. A label value holds no '/': the
    name is the path's last segment and the owner its first."""
    path = repository_path if isinstance(repository_path, str) else ""
    owner, _, rest = path.partition("/")
    return required_labels(
        org=org,
        provider=provider,
        interfaces=[interface] if interface else [],
        repository=rest.rpartition("/")[2] or None,
        external_owner=owner if rest else None,
    )
