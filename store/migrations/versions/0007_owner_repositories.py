"""The repositories of owner-wide bindings (`owner_repositories`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

A binding whose externalRef names an owner and no repository syncs every repository of that
owner: one row per repository the credential sees (discovered by listing them and from
`installation_repositories` and `repository` webhooks), with whether it is still present and
whether its repository workflow runs. Kept in Postgres, not in the binding workflow's state,
which thousands of repositories would push past Temporal's payload limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "owner_repositories",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("org", sa.String(), nullable=False),
        sa.Column("provider_ref", sa.String(), nullable=False),
        sa.Column("binding_ref", sa.String(), nullable=False),
        sa.Column("native_id", sa.String(), nullable=False),
        sa.Column("full_name", sa.String(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("removed_reason", sa.String()),
        sa.Column("removed_at", TIMESTAMPTZ),
        sa.Column("listing_id", sa.String()),
        sa.Column("workflow", sa.String(), nullable=False),
        sa.Column("config_version", sa.Integer(), nullable=False),
        sa.Column("synced_at", TIMESTAMPTZ),
        sa.Column("first_seen_at", TIMESTAMPTZ, server_default=NOW, nullable=False),
        sa.Column("updated_at", TIMESTAMPTZ, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_owner_repositories"),
        sa.UniqueConstraint(
            "org",
            "provider_ref",
            "binding_ref",
            "native_id",
            name="uq_owner_repositories_org_provider_ref_binding_ref_native_id",
        ),
    )


def downgrade() -> None:
    op.drop_table("owner_repositories")
