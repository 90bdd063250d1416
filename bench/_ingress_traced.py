"""`python -m bench._ingress_traced`: `python -m ingress` with each step of the webhook receiver
timed (wall clock, under the benchmark's real concurrency), for `bench/webhooks.py --traced`.

The module-level functions that `ingress.webhooks.receive` calls by name are wrapped in place
(`_load_provider`, `secret_set`, `store_verified`, `signal_and_mark`); the wrappers only read
the clock. Every second and at shutdown the timings go to BENCH_TRACE_FILE as JSON {step: [ms, ...]}. The
ingress code itself is unchanged.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

import ingress.webhooks as receiver
from ingress.app import create_app
from settings import get_settings

TIMINGS: dict[str, list[float]] = {}


def _sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMINGS.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    return wrapper


def _async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            TIMINGS.setdefault(name, []).append((time.perf_counter() - started) * 1000)

    return wrapper


def _dump() -> None:
    with open(os.environ["BENCH_TRACE_FILE"] + ".tmp", "w") as out:
        json.dump({k: list(v) for k, v in list(TIMINGS.items())}, out)
    os.replace(os.environ["BENCH_TRACE_FILE"] + ".tmp", os.environ["BENCH_TRACE_FILE"])


def _dump_every(seconds: float) -> None:
    while True:
        time.sleep(seconds)
        _dump()


def main() -> None:
    threading.Thread(target=_dump_every, args=(1.0,), daemon=True).start()
    receiver._load_provider = _sync("load_provider", receiver._load_provider)
    receiver.secret_set = _sync("read_secrets", receiver.secret_set)  # type: ignore[attr-defined]
    receiver.store_verified = _sync("store_verified", receiver.store_verified)
    receiver.mark_signaled = _sync("mark_signaled", receiver.mark_signaled)
    receiver.signal_and_mark = _async("signal_and_mark", receiver.signal_and_mark)
    receiver.receive = _async("receive_total", receiver.receive)
    settings = get_settings()
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.ingress_host,
            port=settings.ingress_port,
            log_level="info",
            proxy_headers=True,
            timeout_graceful_shutdown=10,
        )
    finally:
        _dump()


if __name__ == "__main__":
    main()
