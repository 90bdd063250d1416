"""The service's own settings: one model, read from `KRATE_*` environment variables.

Only the edges read settings (worker.py, starter/, ingress/ and activities); workflow, provider
and resource modules never do, so the Temporal sandbox never sees them.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def sqlalchemy_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver named, as SQLAlchemy wants it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in POSTGRES_SCHEMES:
        raise ValueError(
            f"database URL {url!r} is not a PostgreSQL URL; use postgresql://user@host:5432/db"
        )
    return f"postgresql+psycopg://{rest}"


def libpq_url(url: str) -> str:
    """Return `url` in the plain form libpq and psql understand."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"database URL {url!r} is not a PostgreSQL URL")
    return f"postgresql://{rest}"


class CpuPriority(StrEnum):
    """How far background work yields the CPU (starter/priority.py)."""

    NORMAL = "normal"
    LOW = "low"
    BACKGROUND = "background"


class Settings(BaseSettings):
    """Everything the service can be told; the defaults give a working local stack."""

    model_config = SettingsConfigDict(env_prefix="KRATE_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: `krate-sync dev` runs an embedded server under "
        "the state directory.",
    )
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "krate-sync"
    state_dir: Path = Field(default=Path(".krate"), description="Where the dev stack keeps state.")
    secrets_dir: Path = Field(
        default=Path(".krate/secrets"),
        description="Secret refs resolve to files <secrets_dir>/<namespace>/<name>/<key>.",
    )
    registry_path: str = Field(
        default="",
        description="Extra provider type registry directories, separated by the OS path "
        "separator (`:`); a type defined there overrides a built-in one of the same name.",
    )
    api_tokens_file: Path | None = Field(
        default=None,
        description="YAML or JSON file of API tokens and their roles (a mounted Secret works); "
        "unset, every read or action API call is refused.",
    )
    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8080
    temporal_ui_port: int = 8233
    demo_simulator_port: int = Field(
        default=8787, description="Where `krate-sync dev --demo` serves its simulated GitHub."
    )
    worker_priority: CpuPriority = Field(
        default=CpuPriority.BACKGROUND,
        description="CPU priority of the worker (and of the dev stack's Temporal server): "
        "`background` runs it on the CPU the ingress leaves (Linux SCHED_IDLE), `low` at "
        "niceness +10, `normal` unchanged. Webhook acknowledgements then go first where they "
        "share CPUs; alone on its CPUs the worker runs as fast as ever.",
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value:
            sqlalchemy_url(value)  # raises with a clear message when it is not PostgreSQL
        return value or None

    @property
    def registry_dirs(self) -> list[Path]:
        return [Path(part) for part in self.registry_path.split(os.pathsep) if part]

    @property
    def sqlalchemy_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError(
                "KRATE_DATABASE_URL is not set; set it to a PostgreSQL URL "
                "(or run `krate-sync dev`, which starts an embedded server)"
            )
        return sqlalchemy_url(self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
