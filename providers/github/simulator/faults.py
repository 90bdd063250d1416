"""Fault injection: server errors, latency and dropped connections, drawn from a seeded RNG so
a run with the same seed and the same request sequence fails the same requests."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

# Bodies GitHub's front ends send with these statuses.
ERROR_BODIES: dict[int, dict[str, str]] = {
    500: {"message": "Server Error"},
    502: {"message": "Server Error"},
    503: {
        "message": "Service Unavailable",
        "documentation_url": "https://docs.github.com/rest",
    },
    504: {"message": "We couldn't respond to your request in time. Sorry about that."},
}


@dataclass
class FaultConfig:
    error_ratio: float = 0.0  # share of API requests answered with one of `error_statuses`
    error_statuses: list[int] = field(default_factory=lambda: [502, 503])
    drop_ratio: float = 0.0  # share of API requests whose connection is closed unanswered
    latency_ms: float = 0.0  # added to every API request
    latency_jitter_ms: float = 0.0  # plus a uniform random share of this
    seed: int = 0


@dataclass(frozen=True)
class Decision:
    drop: bool
    status: int | None
    delay_s: float


class Faults:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Apply a partial update (the control API's body); a new seed restarts the sequence."""
        merged = {**asdict(self.config), **changes}
        self.configure(FaultConfig(**merged))
        return self.config

    def decide(self) -> Decision:
        """One decision per API request. Draw all three numbers every time so changing one
        ratio does not shift which requests the other faults hit."""
        c = self.config
        r_drop, r_error, r_jitter = self.rng.random(), self.rng.random(), self.rng.random()
        status = None
        if r_error < c.error_ratio and c.error_statuses:
            index = int(r_error / c.error_ratio * len(c.error_statuses))
            status = c.error_statuses[min(index, len(c.error_statuses) - 1)]
        delay = (c.latency_ms + r_jitter * c.latency_jitter_ms) / 1000.0
        return Decision(drop=r_drop < c.drop_ratio, status=status, delay_s=delay)
