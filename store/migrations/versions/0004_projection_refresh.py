"""Projections remember that a same-version change is waiting for a fresh read (`refresh_wanted_at`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

GitHub's versions (`updated_at` and friends) have one-second resolution, so two different
states of one object can carry the same version. When an incoming row ties with the stored one
but differs from it, neither side can say which is newer; the row is marked here and the
binding's workflow reads that one object again from the provider (store/upsert.py). The mark is
in the row, committed with the event that caused it, so a crash between the write and the
fresh read loses nothing: the next refresh round finds it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the projection tables at this revision (migrations never import the models).
PROJECTIONS = (
    "repositories",
    "issues",
    "pull_requests",
    "reviews",
    "comments",
    "pipelines",
    "jobs",
    "git_refs",
    "commits",
    "deploy_keys",
    "repository_permissions",
    "branch_protections",
)


def upgrade() -> None:
    for table in PROJECTIONS:
        op.add_column(table, sa.Column("refresh_wanted_at", sa.DateTime(timezone=True)))
        # The refresh round looks for marked rows of one binding; few rows are ever marked.
        op.create_index(
            f"ix_{table}_refresh_wanted",
            table,
            ["org", "provider_ref", "binding_ref"],
            postgresql_where=sa.text("refresh_wanted_at IS NOT NULL"),
        )


def downgrade() -> None:
    for table in PROJECTIONS:
        op.drop_index(f"ix_{table}_refresh_wanted", table_name=table)
        op.drop_column(table, "refresh_wanted_at")
