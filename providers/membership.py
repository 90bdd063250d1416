"""Which repositories an owner-wide binding covers, as webhooks announce it (provider-neutral).

A provider's webhook module reads its own events (GitHub: `installation_repositories`,
`repository` created, deleted, transferred, renamed) into these; the owner-wide binding's
workflow starts or stops the repository's workflow accordingly.
"""

from __future__ import annotations

from pydantic import BaseModel


class RepositoryMembership(BaseModel):
    """One repository joining (`present`) or leaving an owner's set, by its stable id."""

    native_id: str
    full_name: str
    present: bool
    reason: str | None = None
    """Why it left, in words (shown in the binding's status)."""
