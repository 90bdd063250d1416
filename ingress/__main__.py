"""`python -m ingress`: serve the ingress app with uvicorn on KRATE_INGRESS_HOST:KRATE_INGRESS_PORT.

One process: the group-commit writer, the signal batcher and the config cache work best when
every request of the host goes through the same ones, and on a small machine a second process
mostly competes with PostgreSQL, Temporal and the worker for the same cores (docs/benchmarks.md).
"""

from __future__ import annotations

import gc
from typing import Any

import uvicorn

from ingress.app import create_app
from settings import get_settings

# uvloop and httptools (C event loop and HTTP parser) instead of asyncio's loop and h11. No
# access log: at hundreds of deliveries a second one line per request cost about a tenth of the
# receiver's CPU; refusals and failures are logged by the handlers, and every delivery is a row.
# The bench's bare receiver is served with the same options.
SERVER_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_level": "info",
    "access_log": False,
    "proxy_headers": True,
}


def serve(app: Any, host: str, port: int, **options: Any) -> None:
    """Run `app` under uvicorn with SERVER_OPTIONS (the ingress, and the bench's receivers).

    Everything loaded at start (modules, the app) is moved out of the garbage collector's
    reach first: a full collection would otherwise walk those hundreds of thousands of objects
    every time, a pause of tens of milliseconds that every request in flight waits through.
    """
    gc.collect()
    gc.freeze()
    # uvicorn handles SIGTERM and SIGINT itself: it stops accepting, drains, and exits 0.
    uvicorn.run(app, host=host, port=port, **SERVER_OPTIONS, **options)


def main() -> None:
    settings = get_settings()
    serve(
        create_app(settings),
        settings.ingress_host,
        settings.ingress_port,
        timeout_graceful_shutdown=10,  # well inside the 30 s a supervisor gives before SIGKILL
    )


if __name__ == "__main__":
    main()
