"""Reading one object again: what the store knows of an object, and the adapter's answer.

When two states of one object carry the same version (GitHub's versions have one-second
resolution), the store cannot tell which is newer and asks for a fresh read of that object
(store/upsert.py). `ObjectRef` names the object with what every projection row has; an adapter
that implements `ObjectReader` turns it into the provider's current state, or None when the
provider no longer has it.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from providers.base import ExternalObject


class ObjectRef(BaseModel):
    """One stored object, named by the columns every projection row carries."""

    resource_kind: str  # Issue, PullRequest, Review, Comment, Pipeline, Job, ...
    native_kind: str | None = None  # the provider's own kind (issue_comment, check_run, ...)
    native_id: str | None = None
    repository: str | None = None  # the scope's path, "owner/name" on forges
    number: int | None = None  # issue or pull request number
    parent_number: int | None = None  # the pull request a review belongs to
    sha: str | None = None


class UnreadableObject(Exception):
    """The adapter has no way to read this kind of object on its own."""


class ObjectReader(Protocol):
    async def read_object(self, ref: ObjectRef) -> ExternalObject | None:
        """The provider's current state of the object; None when it is gone (404/410).

        Raises UnreadableObject for a kind the provider cannot read one at a time, and the
        usual provider errors (rate limits, auth) otherwise.
        """
        ...
