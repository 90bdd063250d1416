"""The mapping rules kept, not only the envelope: phases, rich-text bodies, labels, ref policies,
webhook subscriptions, and a pull request's checks as a view.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

- `phase` beside the native state on issues, pull requests, pipelines, jobs and repositories
  (and `disabled` on repositories, which had only `archived`);
- the rich-text shape of bodies: `body_source_digest` and `body_render_warnings` beside `body`
  (the Markdown) and `body_format` (the source format) on issues, pull requests, reviews and
  comments (reviews gain `body_format` too);
- three projections: `labels`, `ref_policies`, `webhook_subscriptions`;
- `pull_request_checks`: every pipeline (workflow run, check suite, commit status) that ran on
  a pull request's head commit. A view, not a column: checks arrive long after the pull request
  and for commits it no longer points at, so a stored link would need rewriting on every push.

The column helpers are frozen copies of the envelope at this revision (0001, plus
`local_changes` of 0002 and `refresh_wanted_at` of 0004; 0005 added no projection column):
migrations never import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import SchemaItem

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPTZ = sa.DateTime(timezone=True)
NOW = sa.text("now()")

PHASED = ("repositories", "issues", "pull_requests", "pipelines", "jobs")
BODIED = ("issues", "pull_requests", "reviews", "comments")
NEW_TABLES = ("labels", "ref_policies", "webhook_subscriptions")

CHECKS_VIEW = """
CREATE VIEW pull_request_checks AS
SELECT pr.org, pr.provider_ref, pr.binding_ref, pr.repository,
       pr.number AS pull_number, pr.head_sha,
       p.id AS pipeline_id, p.native_kind, p.native_id, p.workflow AS name,
       p.status, p.conclusion, p.phase, p.url, p.external_updated_at
FROM pull_requests pr
JOIN pipelines p
  ON p.org = pr.org AND p.provider_ref = pr.provider_ref
 AND p.repository = pr.repository AND p.sha = pr.head_sha
WHERE pr.deleted_at IS NULL AND p.deleted_at IS NULL
"""


def text(name: str, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def when(name: str) -> sa.Column[object]:
    return sa.Column(name, TIMESTAMPTZ, nullable=True)


def now(name: str) -> sa.Column[object]:
    return sa.Column(name, TIMESTAMPTZ, server_default=NOW, nullable=False)


def jsonb(name: str, default: str | None) -> sa.Column[object]:
    if default is None:
        return sa.Column(name, JSONB(none_as_null=True), nullable=True)
    return sa.Column(name, JSONB(), server_default=sa.text(f"'{default}'::jsonb"), nullable=False)


def flag(name: str, default: bool) -> sa.Column[bool]:
    return sa.Column(
        name, sa.Boolean(), server_default=sa.text(str(default).lower()), nullable=False
    )


def envelope(table: str) -> list[SchemaItem]:
    """The projection envelope; every new table's identity includes native_id."""
    return [
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        text("org", nullable=False),
        text("provider_ref", nullable=False),
        text("binding_ref"),
        text("interface", nullable=False),
        text("native_kind"),
        text("native_id", nullable=table == "ref_policies"),
        sa.Column("native_number", sa.BigInteger(), nullable=True),
        text("node_id"),
        text("url"),
        text("api_url"),
        text("etag"),
        when("external_updated_at"),
        text("sha"),
        jsonb("extensions", "{}"),
        jsonb("base_snapshot", None),
        sa.Column("local_generation", sa.Integer(), server_default=sa.text("0"), nullable=False),
        jsonb("local_changes", "{}"),
        text("conflict_ref"),
        now("synced_at"),
        when("refresh_wanted_at"),
        when("deleted_at"),
        now("recorded_at"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def projection(table: str, identity: Sequence[str], *columns: SchemaItem) -> None:
    op.create_table(
        table,
        *envelope(table),
        *columns,
        sa.UniqueConstraint(*identity, name=f"uq_{table}_identity"),
    )
    op.create_index(f"ix_{table}_tombstone_scan", table, ["org", "provider_ref", "synced_at"])
    op.create_index(
        f"ix_{table}_refresh_wanted",
        table,
        ["org", "provider_ref", "binding_ref"],
        postgresql_where=sa.text("refresh_wanted_at IS NOT NULL"),
    )


def upgrade() -> None:
    for table in PHASED:
        op.add_column(table, text("phase"))
    op.add_column("repositories", flag("disabled", False))
    op.add_column("reviews", text("body_format"))
    for table in BODIED:
        op.add_column(table, text("body_source_digest"))
        op.add_column(table, jsonb("body_render_warnings", "[]"))

    projection(
        "labels",
        ("org", "provider_ref", "repository", "native_id"),
        text("repository", nullable=False),
        text("name", nullable=False),
        text("color"),
        text("description"),
        flag("is_default", False),
    )
    op.create_index(
        "ix_labels_org_provider_ref_repository_name",
        "labels",
        ["org", "provider_ref", "repository", "name"],
    )
    projection(
        "ref_policies",
        ("org", "provider_ref", "repository", "pattern"),
        text("repository", nullable=False),
        text("pattern", nullable=False),
        text("ref_kind", nullable=False),
        sa.Column("required_approvals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        flag("require_code_owner_review", False),
        flag("dismiss_stale_reviews", False),
        flag("require_last_push_approval", False),
        jsonb("required_checks", "[]"),
        flag("require_up_to_date", False),
        flag("enforce_admins", False),
        flag("allow_force_push", False),
        flag("allow_deletion", False),
        flag("require_linear_history", False),
        flag("require_conversation_resolution", False),
        jsonb("push_allowed", None),
    )
    projection(
        "webhook_subscriptions",
        ("org", "provider_ref", "repository", "native_id"),
        text("repository", nullable=False),
        text("name"),
        flag("active", True),
        jsonb("events", "[]"),
        text("target_url"),
        text("content_type"),
        flag("insecure_ssl", False),
        flag("secret_set", False),
        when("created_at"),
    )
    op.execute(CHECKS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW pull_request_checks")
    for table in NEW_TABLES:
        op.drop_table(table)
    for table in BODIED:
        op.drop_column(table, "body_render_warnings")
        op.drop_column(table, "body_source_digest")
    op.drop_column("reviews", "body_format")
    op.drop_column("repositories", "disabled")
    for table in PHASED:
        op.drop_column(table, "phase")
