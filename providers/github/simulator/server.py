"""Running the simulator: `serve` for the command line, `run_in_thread` for tests that need a
real socket (dropped connections, a real client's connection pool)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from netports import free_port
from providers.github.simulator.app import AppConfig, Simulator, SimulatorConfig
from providers.github.simulator.faults import FaultConfig
from providers.github.simulator.seed import SeedConfig
from providers.github.simulator.webhooks import WebhookConfig


def build_config(
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    base_url: str | None = None,
    seed: int = 0,
    seed_owners: tuple[str, ...] = ("krate-demo",),
    seed_repos: int = 2,
    seed_issues: int = 40,
    seed_pulls: int = 20,
    seed_comments: int = 3,
    seed_runs: int = 10,
    seed_jobs: int = 3,
    seed_branches: int = 5,
    seed_tags: int = 3,
    seed_until: datetime | None = None,
    tokens: dict[str, str] | None = None,
    app_id: int | None = None,
    app_key_path: Path | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    error_ratio: float = 0.0,
    error_statuses: tuple[int, ...] = (502, 503),
    latency_ms: float = 0.0,
    drop_ratio: float = 0.0,
    fault_seed: int | None = None,
    rate_limit: int = 5000,
) -> SimulatorConfig:
    """A `SimulatorConfig` from flat options, the shape a command line has."""
    apps = []
    if app_id is not None and app_key_path is not None:
        apps.append(AppConfig(app_id=app_id, key_pem=Path(app_key_path).read_text()))
    return SimulatorConfig(
        base_url=base_url or (f"http://{host}:{port}" if port else None),
        tokens=tokens if tokens is not None else {"sim-token": "krate-bot"},
        apps=apps,
        seed=SeedConfig(
            seed=seed,
            owners=list(seed_owners),
            repos=seed_repos,
            issues=seed_issues,
            pulls=seed_pulls,
            comments=seed_comments,
            runs=seed_runs,
            jobs=seed_jobs,
            branches=seed_branches,
            tags=seed_tags,
            until=seed_until,
        ),
        faults=FaultConfig(
            error_ratio=error_ratio,
            error_statuses=list(error_statuses),
            latency_ms=latency_ms,
            drop_ratio=drop_ratio,
            seed=seed if fault_seed is None else fault_seed,
        ),
        rate_limit=rate_limit,
        webhook=WebhookConfig(url=webhook_url, secret=webhook_secret),
    )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    log_level: str = "info",
    config: SimulatorConfig | None = None,
    **options: Any,
) -> None:
    """Run the simulator in the foreground until interrupted. Either a full `config`, or
    `options` as for `build_config` (seed_repos=, seed_issues=, webhook_url=, ...)."""
    config = config or build_config(host=host, port=port, **options)
    uvicorn.run(
        Simulator(config),
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        server_header=False,  # the simulator sends GitHub's own `server` header
    )


@dataclass
class RunningSimulator:
    sim: Simulator
    server: uvicorn.Server
    thread: threading.Thread
    base_url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_in_thread(
    sim: Simulator | None = None, host: str = "127.0.0.1", port: int | None = None
) -> RunningSimulator:
    """Start uvicorn serving `sim` on a free port in a daemon thread; returns once it listens.

    The simulator's objects live on that thread's event loop: drive them over HTTP (or the
    control API) rather than mutating `sim.state` from the test thread.
    """
    port = port or free_port(host)
    base_url = f"http://{host}:{port}"
    if sim is None:
        sim = Simulator(SimulatorConfig(base_url=base_url))
    config = uvicorn.Config(
        sim, host=host, port=port, log_level="warning", lifespan="on", server_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"github-sim:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the GitHub simulator did not start")
        time.sleep(0.01)
    return RunningSimulator(sim, server, thread, base_url)


@contextmanager
def run_in_thread(
    sim: Simulator | None = None, host: str = "127.0.0.1", port: int | None = None
) -> Iterator[RunningSimulator]:
    """`start_in_thread` as a context manager that stops the server on exit."""
    running = start_in_thread(sim, host, port)
    try:
        yield running
    finally:
        running.stop()
