"""Former names of renamed or transferred repositories (`repository_former_names`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Projection rows follow their repository's current name (store/renames.py rewrites them when it
changes). An old name keeps arriving after that: a binding's externalRef written before the
rename, a delivery sent before it and processed after. This table maps each retired name to
the provider's stable id of the repository, so such a name resolves to the current one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repository_former_names",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("org", sa.String(), nullable=False),
        sa.Column("provider_ref", sa.String(), nullable=False),
        sa.Column("full_name", sa.String(), nullable=False),
        sa.Column("native_id", sa.String(), nullable=False),
        sa.Column("version", sa.DateTime(timezone=True)),
        sa.Column(
            "renamed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_repository_former_names"),
        sa.UniqueConstraint(
            "org",
            "provider_ref",
            "full_name",
            name="uq_repository_former_names_org_provider_ref_full_name",
        ),
    )


def downgrade() -> None:
    op.drop_table("repository_former_names")
