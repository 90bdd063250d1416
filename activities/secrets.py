"""Secret refs resolved to values, inside activities only.

Workflow inputs, signals, memos and logs carry a Secret *ref* (namespace, name); the values are
read here, at the last moment, from the Kubernetes Secret-as-directory layout:
`<secrets_dir>/<namespace>/<name>/<key>` (one file per key, as a mounted Secret volume has).
Values are `SecretStr`, so a repr or a log line never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr


class ConfigurationError(Exception):
    """The binding cannot work as configured (missing Secret or key, unknown provider type).

    The activities hand it to Temporal as a non-retryable `ConfigurationError`: retrying does
    not help until someone fixes the configuration.
    """


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def _safe_part(value: str, what: str) -> str:
    # A ref comes from a manifest: never let it walk out of the secrets directory.
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise ConfigurationError(f"invalid Secret {what} {value!r}")
    return value


def secret_path(secrets_dir: Path, ref: SecretRef) -> Path:
    """Where the Secret's files live."""
    return secrets_dir / _safe_part(ref.namespace, "namespace") / _safe_part(ref.name, "name")


def read_secret(secrets_dir: Path, ref: SecretRef) -> dict[str, SecretStr]:
    """Every key of the Secret, as `SecretStr` values.

    Kubernetes mounts keep their bookkeeping in `..data` and `..<timestamp>` entries; those
    are skipped. A missing directory raises `ConfigurationError` naming the path to create.
    """
    path = secret_path(secrets_dir, ref)
    if not path.is_dir():
        raise ConfigurationError(
            f"Secret {ref} not found: create the directory {path} with one file per key "
            f"(or mount the Kubernetes Secret there)"
        )
    values: dict[str, SecretStr] = {}
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("..") or not entry.is_file():
            continue
        values[entry.name] = SecretStr(entry.read_text(encoding="utf-8"))
    return values


def require_key(values: dict[str, SecretStr], key: str, ref: SecretRef, secrets_dir: Path) -> str:
    """One key's value, trailing newline removed (files written by `echo` end with one)."""
    value = values.get(key)
    if value is None:
        raise ConfigurationError(
            f"Secret {ref} has no key {key!r}: create the file {secret_path(secrets_dir, ref) / key}"
        )
    return value.get_secret_value().rstrip("\r\n")
