"""Shared helpers for the GitHub simulator tests: a small deterministic world, an in-process
client, RSA keys and RS256 JWTs for the App flow, and the published-schema validators.

(No tests here; the module name only keeps it among the simulator's test files.)
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.github.simulator import SeedConfig, Simulator, SimulatorConfig

TOKEN = "sim-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
UNTIL = datetime(2026, 1, 1, tzinfo=UTC)
NPM = Path(__file__).parent / "npm" / "node_modules" / "@octokit"
OPENAPI = NPM / "openapi" / "generated" / "api.github.com.json"
WEBHOOK_SCHEMAS = NPM / "webhooks-schemas" / "schema.json"


def small_seed(**overrides: Any) -> SeedConfig:
    values: dict[str, Any] = {
        "seed": 7,
        "repos": 1,
        "issues": 8,
        "pulls": 6,
        "runs": 4,
        "jobs": 2,
        "branches": 2,
        "tags": 2,
        "commits": 6,
        "until": UNTIL,
    }
    values.update(overrides)
    return SeedConfig(**values)


def make_sim(**config: Any) -> Simulator:
    config.setdefault("seed", small_seed())
    return Simulator(SimulatorConfig(**config))


def client(sim: Simulator, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client talking to `sim` in process."""
    kwargs.setdefault("headers", AUTH)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim), base_url="http://sim.test", **kwargs
    )


def repo_name(sim: Simulator) -> str:
    return next(iter(sim.state.repos.values())).full_name


# -- RSA keys and JWTs ----------------------------------------------------------------------


@cache
def rsa_private_pem() -> str:
    """A 2048-bit RSA private key in PEM (PKCS#8), made for these tests."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def app_jwt(pem: str, issuer: str, *, now: int | None = None, lifetime: int = 540) -> str:
    """An RS256 JWT as GitHub documents it for Apps: iat 60 s in the past, exp within 10 min."""
    now = int(time.time()) if now is None else now
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    claims = {"iat": now - 60, "exp": now + lifetime, "iss": issuer}
    return jwt.encode(claims, key, algorithm="RS256")


# -- published schemas ----------------------------------------------------------------------


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` becomes JSON Schema's "or null"."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _nullable_to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def openapi_document() -> dict[str, Any]:
    with OPENAPI.open() as handle:
        document: dict[str, Any] = json.load(handle)
    document["components"] = _nullable_to_json_schema(document["components"])
    document["paths"] = _nullable_to_json_schema(document["paths"])
    return document


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def openapi_validator(method: str, path: str, status: int) -> Any:
    """A jsonschema validator for the documented `status` response of `method path`."""
    import jsonschema
    from referencing import Registry
    from referencing.jsonschema import DRAFT4

    document = openapi_document()
    operation = document["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    where = ["paths", path, method.lower(), "responses", str(status)]
    if "$ref" in response:  # a shared response such as #/components/responses/not_found
        where = response["$ref"].removeprefix("#/").split("/")
        response = document["components"]["responses"][where[-1]]
    assert "content" in response, f"{method} {path} {status} documents no body"
    uri = "urn:github-openapi"
    registry: Registry[Any] = Registry().with_resource(uri, DRAFT4.create_resource(document))
    ref = "#/" + _pointer(*where, "content", "application/json", "schema")
    return jsonschema.Draft4Validator({"$ref": uri + ref}, registry=registry)


@cache
def webhook_schema() -> dict[str, Any]:
    with WEBHOOK_SCHEMAS.open() as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


def webhook_validator(event: str, action: str) -> Any:
    import jsonschema

    root = webhook_schema()
    return jsonschema.Draft7Validator(
        {"definitions": root["definitions"], "$ref": f"#/definitions/{event}${action}"}
    )


def schema_errors(validator: Any, instance: Any, limit: int = 8) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:limit]]
