"""`python -m ingress`: serve the ingress app with uvicorn on KRATE_INGRESS_HOST:KRATE_INGRESS_PORT."""

from __future__ import annotations

import uvicorn

from ingress.app import create_app
from settings import get_settings


def main() -> None:
    settings = get_settings()
    # uvicorn handles SIGTERM and SIGINT itself: it stops accepting, drains, and exits 0.
    uvicorn.run(
        create_app(settings),
        host=settings.ingress_host,
        port=settings.ingress_port,
        log_level="info",
        proxy_headers=True,
        timeout_graceful_shutdown=10,  # well inside the 30 s a supervisor gives before SIGKILL
    )


if __name__ == "__main__":
    main()
