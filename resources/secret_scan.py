"""Find credentials written as literal values (validation rule 7: write intents carry refs only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Key names (lower case, '-' and '_' removed) whose value is a credential when it is a literal.
SECRET_KEY_SUFFIXES = (
    "token",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "privatekey",
    "apikey",
    "accesskey",
    "secretkey",
    "credential",
    "credentials",
    "authorization",
)

# Values that are credentials whatever key holds them.
SECRET_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}")),
    ("a GitLab token", re.compile(r"\bgl(?:pat|dt|ptt|rt)-[A-Za-z0-9_\-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a Linear API key", re.compile(r"\blin_api_[A-Za-z0-9]{20,}")),
    ("a Buildkite token", re.compile(r"\bbkua_[A-Za-z0-9]{20,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")),
    ("a bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]{12,}=*")),
    ("basic auth credentials", re.compile(r"\bBasic\s+[A-Za-z0-9+/]{12,}={0,2}")),
    (
        "a JSON web token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ),
)

# A mapping under a credential key may be a reference ({name, key}); these keys make it a value.
_INLINE_VALUE_KEYS = ("value", "data", "stringData")


@dataclass(frozen=True)
class SecretFinding:
    path: str
    reason: str


def is_secret_key(key: str) -> bool:
    normalized = key.lower().replace("-", "").replace("_", "")
    return normalized.endswith(SECRET_KEY_SUFFIXES)


def preview(match: str) -> str:
    """The start of a matched credential (`ghp_`, `AKIA`: the public prefix), never the rest."""
    return f"{match[:4]}…"


def join_path(path: str, key: str) -> str:
    """`spec.parameters.token`; keys with dots or slashes as `metadata.annotations["a.b/c"]`."""
    if "." in key or "/" in key:
        return f'{path}["{key}"]'
    return f"{path}.{key}" if path else key


def find_raw_secrets(value: Any, path: str) -> Iterator[SecretFinding]:
    """Walk a parsed document and yield every literal credential with its dotted path."""
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = join_path(path, str(key))
            if is_secret_key(str(key)) and _is_literal(child):
                # Not even a prefix is shown: a short secret would be half revealed.
                yield SecretFinding(child_path, f'"{key}" holds a literal value')
                continue
            yield from find_raw_secrets(child, child_path)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from find_raw_secrets(child, f"{path}[{index}]")
    elif isinstance(value, str):
        for what, pattern in SECRET_VALUE_PATTERNS:
            match = pattern.search(value)
            if match:
                yield SecretFinding(path, f"the value holds {what} ({preview(match.group())})")
                break


def _is_literal(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False  # `token: false` or `password: null` say nothing secret
    if isinstance(value, str | int | float | bytes):
        return value != ""
    if isinstance(value, dict):
        return any(key in value for key in _INLINE_VALUE_KEYS)
    return False
