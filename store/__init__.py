"""Postgres storage: tables, migrations, version-guarded upserts, kubectl-style resources.

Modules: db (engine, sessions, ping), migrate (Alembic from code), models (tables), upsert
(projections), resources (apply/get/delete), aggregated (aggregated kinds <-> rows), payloads,
audit, kinds (kind -> table). See docs/store.md.
"""
