"""A GitHub REST API simulator that speaks GitHub's wire format (API version 2022-11-28), with a
subset of GitHub's GraphQL API at `POST /graphql` over the same state.

In process: `create_app(...)` gives an ASGI app for `httpx.ASGITransport`; over a socket:
`run_in_thread(...)`; from the command line: `serve(port=..., seed_repos=..., ...)`.
See docs/simulators.md.
"""

from providers.github.simulator.app import AppConfig, Simulator, SimulatorConfig, create_app
from providers.github.simulator.faults import FaultConfig
from providers.github.simulator.seed import SeedConfig
from providers.github.simulator.server import (
    RunningSimulator,
    build_config,
    run_in_thread,
    serve,
    start_in_thread,
)
from providers.github.simulator.webhooks import WebhookConfig

__all__ = [
    "AppConfig",
    "FaultConfig",
    "RunningSimulator",
    "SeedConfig",
    "Simulator",
    "SimulatorConfig",
    "WebhookConfig",
    "build_config",
    "create_app",
    "run_in_thread",
    "serve",
    "start_in_thread",
]
