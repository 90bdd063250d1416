"""Projections keep the Krate-side edits not yet written to the provider (`local_changes`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

`local_changes` maps a column name to its pending local value. It is the "local" side of
three-way conflict detection (store/conflicts.py); `base_snapshot` is the base and the incoming
provider row the external side.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0002"
down_revision: str | None = "0001"
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
        op.add_column(
            table,
            sa.Column(
                "local_changes", JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
            ),
        )


def downgrade() -> None:
    for table in PROJECTIONS:
        op.drop_column(table, "local_changes")
