"""API tokens with roles: `Authorization: Bearer <token>`.

Tokens live in one YAML or JSON file (a mounted Kubernetes Secret is a file), named by
`KRATE_API_TOKENS_FILE`:

```yaml
tokens:
  - name: dashboards          # shown in the audit log as api:<name>
    sha256: 9f86d08...        # sha256 hex of the token (preferred), or `token: <plain>`
    role: viewer              # viewer | operator | admin
    orgs: [a5c]               # optional: only these orgs (default: all)
```

Roles grant permissions, each a superset of the one before:

| Role | read | read_payload | replay | act (write intents, conflicts, local edits) |
| --- | --- | --- | --- | --- |
| viewer | yes | no | no | no |
| operator | yes | yes | yes | yes |
| admin | yes | yes | yes | yes |

`orgs` limits a token of any role to those orgs.

No file, or an empty one: the API refuses every request (fail closed). Tokens are compared by
their sha256 digest with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml
from starlette.requests import Request


class Permission(StrEnum):
    READ = "read"
    READ_PAYLOAD = "read_payload"
    REPLAY = "replay"
    ACT = "act"
    """Create and decide write intents, resolve conflicts, edit synced objects."""


ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({Permission.READ}),
    "operator": frozenset(
        {Permission.READ, Permission.READ_PAYLOAD, Permission.REPLAY, Permission.ACT}
    ),
    "admin": frozenset(Permission),
}


@dataclass(frozen=True)
class ApiToken:
    name: str
    digest: str = field(repr=False)
    role: str
    orgs: frozenset[str] | None = None

    def allows(self, permission: Permission, org: str | None = None) -> bool:
        if permission not in ROLE_PERMISSIONS.get(self.role, frozenset()):
            return False
        return org is None or self.orgs is None or org in self.orgs

    @property
    def actor(self) -> str:
        return f"api:{self.name}"


class InvalidTokenFile(ValueError):
    pass


@dataclass(frozen=True)
class TokenStore:
    tokens: tuple[ApiToken, ...] = ()

    def authenticate(self, presented: str) -> ApiToken | None:
        digest = hashlib.sha256(presented.encode()).hexdigest()
        found = None
        for token in self.tokens:  # no early exit: timing does not tell which one matched
            if hmac.compare_digest(token.digest, digest):
                found = token
        return found


def parse_tokens(document: object) -> TokenStore:
    if not isinstance(document, dict) or not isinstance(document.get("tokens", []), list):
        raise InvalidTokenFile("expected a mapping with a `tokens` list")
    tokens = []
    for index, entry in enumerate(document.get("tokens") or []):
        if not isinstance(entry, dict):
            raise InvalidTokenFile(f"tokens[{index}] is not a mapping")
        role = str(entry.get("role", ""))
        if role not in ROLE_PERMISSIONS:
            raise InvalidTokenFile(
                f"tokens[{index}].role {role!r} is not one of {', '.join(ROLE_PERMISSIONS)}"
            )
        digest = entry.get("sha256")
        if not digest and entry.get("token"):
            digest = hashlib.sha256(str(entry["token"]).encode()).hexdigest()
        if not isinstance(digest, str) or len(digest) != 64:
            raise InvalidTokenFile(f"tokens[{index}] needs `sha256` (hex) or `token`")
        orgs = entry.get("orgs")
        tokens.append(
            ApiToken(
                name=str(entry.get("name") or f"token-{index}"),
                digest=digest.lower(),
                role=role,
                orgs=frozenset(str(o) for o in orgs) if isinstance(orgs, list) else None,
            )
        )
    return TokenStore(tuple(tokens))


def load_token_store(path: str | os.PathLike[str] | None) -> TokenStore:
    """Tokens from `path` (settings.api_tokens_file, KRATE_API_TOKENS_FILE); none when unset."""
    source = path
    if not source:
        return TokenStore()
    text = Path(source).read_text()
    document = json.loads(text) if str(source).endswith(".json") else yaml.safe_load(text)
    return parse_tokens(document or {})


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
