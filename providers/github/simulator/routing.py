"""The route table entry shared by the API modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from providers.github.simulator.context import Ctx, Result

Handler = Callable[["Ctx"], Awaitable["Result"]]
# token: a configured token or an installation token; jwt: a GitHub App JWT.
AuthKind = Literal["token", "jwt"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    auth: AuthKind = "token"
    counts: bool = True  # False for endpoints GitHub does not charge (GET /rate_limit)
