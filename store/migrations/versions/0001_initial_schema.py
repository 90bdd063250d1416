"""Initial schema: config resources, aggregated kinds, webhook payloads, audit log, projections.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Written by hand (autogenerate's output was reviewed and folded into the helpers below). The
helpers are frozen copies of the column sets as they were at this revision: a migration must
not import the models, which keep changing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import SchemaItem

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = sa.text("now()")
TIMESTAMPTZ = sa.DateTime(timezone=True)


def text(name: str, *, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable)


def when(name: str) -> sa.Column[object]:
    return sa.Column(name, TIMESTAMPTZ, nullable=True)


def now(name: str) -> sa.Column[object]:
    return sa.Column(name, TIMESTAMPTZ, server_default=NOW, nullable=False)


def jsonb(name: str, default: str | None) -> sa.Column[object]:
    """NOT NULL with a default `{}`/`[]`, or nullable (SQL NULL) when default is None."""
    if default is None:
        return sa.Column(name, JSONB(none_as_null=True), nullable=True)
    return sa.Column(name, JSONB(), server_default=sa.text(f"'{default}'::jsonb"), nullable=False)


def flag(name: str, default: bool) -> sa.Column[bool]:
    return sa.Column(
        name, sa.Boolean(), server_default=sa.text(str(default).lower()), nullable=False
    )


def bigint(name: str, *, nullable: bool = True) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def object_meta(table: str) -> list[SchemaItem]:
    """Kubernetes object metadata shared by the six aggregated kinds."""
    return [
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        text("namespace", nullable=False),
        text("name", nullable=False),
        sa.Column("generation", sa.Integer(), server_default=sa.text("1"), nullable=False),
        jsonb("labels", "{}"),
        jsonb("annotations", "{}"),
        jsonb("spec_extra", "{}"),
        jsonb("status_extra", "{}"),
        now("created_at"),
        now("updated_at"),
        text("org", nullable=False),
        text("provider_ref", nullable=False),
        text("binding_ref"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint("uid", name=f"uq_{table}_uid"),
        sa.UniqueConstraint("namespace", "name", name=f"uq_{table}_namespace_name"),
    ]


def envelope(table: str, *, required: Sequence[str] = ()) -> list[SchemaItem]:
    """The external envelope and sync bookkeeping shared by every projection.

    `required` names envelope columns that this projection's identity makes NOT NULL.
    """
    return [
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        text("org", nullable=False),
        text("provider_ref", nullable=False),
        text("binding_ref"),
        text("interface", nullable=False),
        text("native_kind", nullable="native_kind" not in required),
        text("native_id", nullable="native_id" not in required),
        bigint("native_number"),
        text("node_id"),
        text("url"),
        text("api_url"),
        text("etag"),
        when("external_updated_at"),
        text("sha", nullable="sha" not in required),
        jsonb("extensions", "{}"),
        jsonb("base_snapshot", None),
        sa.Column("local_generation", sa.Integer(), server_default=sa.text("0"), nullable=False),
        text("conflict_ref"),
        now("synced_at"),
        when("deleted_at"),
        now("recorded_at"),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def projection(table: str, identity: Sequence[str], *columns: SchemaItem) -> None:
    required = [c for c in ("native_kind", "native_id", "sha") if c in identity]
    op.create_table(
        table,
        *envelope(table, required=required),
        *columns,
        sa.UniqueConstraint(*identity, name=f"uq_{table}_identity"),
    )
    # Full resyncs tombstone what they did not see: one scope, by when it was last seen.
    op.create_index(f"ix_{table}_tombstone_scan", table, ["org", "provider_ref", "synced_at"])


def index(table: str, *columns: str, name: str | None = None) -> None:
    op.create_index(name or f"ix_{table}_{'_'.join(columns)}", table, list(columns))


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
AGGREGATED = (
    "webhook_deliveries",
    "sync_events",
    "sync_states",
    "write_intents",
    "sync_conflicts",
    "object_links",
)


def upgrade() -> None:
    op.create_table(
        "config_resources",
        text("kind", nullable=False),
        text("namespace", nullable=False),
        text("name", nullable=False),
        sa.Column("uid", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("generation", sa.Integer(), server_default=sa.text("1"), nullable=False),
        text("org"),
        jsonb("labels", "{}"),
        jsonb("annotations", "{}"),
        jsonb("spec", "{}"),
        jsonb("status", "{}"),
        text("spec_digest", nullable=False),
        now("created_at"),
        now("updated_at"),
        when("deleted_at"),
        sa.PrimaryKeyConstraint("kind", "namespace", "name", name="pk_config_resources"),
        sa.UniqueConstraint("uid", name="uq_config_resources_uid"),
    )
    index("config_resources", "org", "kind")

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        now("at"),
        text("actor", nullable=False),
        text("action", nullable=False),
        text("subject_kind", nullable=False),
        text("subject_namespace"),
        text("subject_name", nullable=False),
        text("org"),
        text("provider_ref"),
        jsonb("details", "{}"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    index("audit_log", "at")
    index("audit_log", "org", "at")
    index("audit_log", "subject_kind", "subject_name")

    op.create_table(
        "webhook_payloads",
        text("digest", nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        text("content_type", nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        now("created_at"),
        sa.PrimaryKeyConstraint("digest", name="pk_webhook_payloads"),
        sa.CheckConstraint("digest LIKE 'sha256:%%'", name="ck_webhook_payloads_digest_is_sha256"),
        sa.CheckConstraint(
            "size = octet_length(body)", name="ck_webhook_payloads_size_matches_body"
        ),
    )

    op.create_table(
        "webhook_deliveries",
        *object_meta("webhook_deliveries"),
        jsonb("interface_hints", None),
        text("delivery_id", nullable=False),
        text("event_type", nullable=False),
        text("action"),
        when("received_at"),
        text("signature_algorithm"),
        sa.Column("signature_verified", sa.Boolean(), nullable=True),
        text("source_owner"),
        text("source_repository"),
        text("payload_storage"),
        text("payload_digest"),
        text("phase"),
        sa.Column("attempts", sa.Integer(), nullable=True),
        sa.UniqueConstraint(
            "org", "provider_ref", "delivery_id", name="uq_webhook_deliveries_delivery_id"
        ),
        sa.ForeignKeyConstraint(
            ["payload_digest"],
            ["webhook_payloads.digest"],
            name="fk_webhook_deliveries_payload_digest_webhook_payloads",
        ),
    )
    index("webhook_deliveries", "org", "provider_ref", "received_at")
    index("webhook_deliveries", "event_type", "action")
    index("webhook_deliveries", "phase")
    index("webhook_deliveries", "payload_digest")

    op.create_table(
        "sync_events",
        *object_meta("sync_events"),
        text("source_delivery"),
        text("interface", nullable=False),
        text("resource_kind", nullable=False),
        text("native_id"),
        text("node_id"),
        text("action"),
        when("event_time"),
        jsonb("normalized", None),
    )
    index("sync_events", "org", "provider_ref", "resource_kind", "native_id")
    index("sync_events", "source_delivery")
    index("sync_events", "event_time")

    op.create_table(
        "sync_states",
        *object_meta("sync_states"),
        text("interface", nullable=False),
        text("resource_kind", nullable=False),
        jsonb("scope", None),
        text("phase"),
        text("cursor"),
        text("etag"),
        when("high_watermark"),
        when("last_synced_at"),
        when("last_full_resync_at"),
        sa.UniqueConstraint(
            "org",
            "provider_ref",
            "binding_ref",
            "interface",
            "resource_kind",
            "scope",
            name="uq_sync_states_scope",
            postgresql_nulls_not_distinct=True,
        ),
    )

    op.create_table(
        "write_intents",
        *object_meta("write_intents"),
        text("interface", nullable=False),
        text("operation", nullable=False),
        text("source_kind"),
        text("actor"),
        text("target_kind"),
        text("target_name"),
        jsonb("native_target", None),
        text("request_digest"),
        sa.Column("approval_required", sa.Boolean(), nullable=True),
        text("idempotency_key", nullable=False),
        text("phase"),
        sa.UniqueConstraint("idempotency_key", name="uq_write_intents_idempotency_key"),
    )
    index("write_intents", "org", "provider_ref", "phase")
    index("write_intents", "target_kind", "target_name")

    op.create_table(
        "sync_conflicts",
        *object_meta("sync_conflicts"),
        text("interface"),
        text("resource_kind", nullable=False),
        text("local_name"),
        text("native_id"),
        text("native_url"),
        text("write_intent_ref"),
        jsonb("fields", "[]"),
        sa.Column("local_generation", sa.Integer()),
        text("recommendation"),
        when("detected_at"),
        text("phase"),
    )
    index("sync_conflicts", "org", "provider_ref", "resource_kind", "native_id")
    index("sync_conflicts", "phase")

    op.create_table(
        "object_links",
        *object_meta("object_links"),
        text("local_api_version"),
        text("local_kind", nullable=False),
        text("local_name", nullable=False),
        text("interface"),
        text("native_kind"),
        text("native_id"),
        bigint("native_number"),
        text("node_id"),
        text("url"),
        text("api_url"),
        text("etag"),
        sa.UniqueConstraint(
            "org", "provider_ref", "local_kind", "local_name", name="uq_object_links_local_ref"
        ),
    )
    index("object_links", "org", "provider_ref", "native_id")

    projection(
        "repositories",
        ("org", "provider_ref", "native_id"),
        text("owner", nullable=False),
        text("name", nullable=False),
        text("full_name", nullable=False),
        text("description"),
        text("visibility"),
        text("default_branch"),
        flag("archived", False),
        jsonb("clone_urls", "{}"),
    )
    index("repositories", "org", "provider_ref", "full_name")

    # Issues and pull requests are keyed by number: one row per number whichever endpoint
    # (and so whichever native id) reported it.
    projection(
        "issues",
        ("org", "provider_ref", "repository", "number"),
        text("repository", nullable=False),
        bigint("number", nullable=False),
        text("title", nullable=False),
        text("body"),
        text("body_format"),
        text("state", nullable=False),
        jsonb("labels", "[]"),
        jsonb("assignees", "[]"),
        text("milestone"),
        when("created_at"),
        when("closed_at"),
    )
    index("issues", "org", "provider_ref", "repository", "state")

    projection(
        "pull_requests",
        ("org", "provider_ref", "repository", "number"),
        text("repository", nullable=False),
        bigint("number", nullable=False),
        text("title", nullable=False),
        text("body"),
        text("body_format"),
        text("state", nullable=False),
        text("head"),
        text("base"),
        text("head_sha"),
        text("merge_state"),
        flag("merged", False),
        flag("draft", False),
        jsonb("labels", "[]"),
        jsonb("assignees", "[]"),
        when("created_at"),
        when("closed_at"),
        when("merged_at"),
    )
    index("pull_requests", "org", "provider_ref", "repository", "state")
    index("pull_requests", "head_sha")

    projection(
        "reviews",
        ("org", "provider_ref", "native_id"),
        text("repository", nullable=False),
        bigint("pull_number", nullable=False),
        text("state", nullable=False),
        text("author"),
        text("body"),
        text("commit_sha"),
        when("submitted_at"),
    )
    index("reviews", "org", "provider_ref", "repository", "pull_number")

    projection(
        "comments",
        ("org", "provider_ref", "native_kind", "native_id"),
        text("repository", nullable=False),
        text("parent_kind", nullable=False),
        bigint("parent_number"),
        text("body"),
        text("body_format"),
        text("author"),
        text("path"),
        sa.Column("line", sa.Integer(), nullable=True),
        when("created_at"),
    )
    index(
        "comments",
        "org",
        "provider_ref",
        "repository",
        "parent_kind",
        "parent_number",
        name="ix_comments_parent",
    )

    projection(
        "pipelines",
        ("org", "provider_ref", "repository", "native_id"),
        text("repository", nullable=False),
        text("workflow"),
        text("ref"),
        text("status"),
        text("conclusion"),
        bigint("run_number"),
        when("started_at"),
        when("completed_at"),
    )
    index("pipelines", "org", "provider_ref", "repository", "sha")

    projection(
        "jobs",
        ("org", "provider_ref", "repository", "native_id"),
        text("repository", nullable=False),
        text("pipeline_native_id", nullable=False),
        text("name", nullable=False),
        text("status"),
        text("conclusion"),
        when("started_at"),
        when("completed_at"),
    )
    index("jobs", "org", "provider_ref", "repository", "pipeline_native_id")

    projection(
        "git_refs",
        ("org", "provider_ref", "repository", "kind", "name"),
        text("repository", nullable=False),
        text("kind", nullable=False),
        text("name", nullable=False),
    )

    projection(
        "commits",
        ("org", "provider_ref", "repository", "sha"),
        text("repository", nullable=False),
        text("message"),
        text("author"),
        when("authored_at"),
        jsonb("parents", "[]"),
    )

    projection(
        "deploy_keys",
        ("org", "provider_ref", "repository", "native_id"),
        text("repository", nullable=False),
        text("title"),
        text("key", nullable=False),
        flag("read_only", True),
    )

    projection(
        "repository_permissions",
        ("org", "provider_ref", "repository", "principal_kind", "principal"),
        text("repository", nullable=False),
        text("principal_kind", nullable=False),
        text("principal", nullable=False),
        text("permission", nullable=False),
    )

    projection(
        "branch_protections",
        ("org", "provider_ref", "repository", "pattern"),
        text("repository", nullable=False),
        text("pattern", nullable=False),
        jsonb("settings", "{}"),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints; deliveries go before payloads.
    for table in (*PROJECTIONS, *AGGREGATED, "webhook_payloads", "audit_log", "config_resources"):
        op.drop_table(table)
