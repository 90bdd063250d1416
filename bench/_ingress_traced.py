"""`python -m bench._ingress_traced`: `python -m ingress` with each step of the webhook receiver
timed (wall clock, under the benchmark's real concurrency), for `bench/webhooks.py --traced`.

Wrapped in place (the wrappers only read the clock; the ingress code is unchanged):

- `config_lookup`: the cached provider view (`ConfigCache.view`);
- `prepare`: parse, classify and build the row (`prepare_verified`, on the event loop);
- `await_commit`: from handing the delivery to the group-commit writer to its outcome
  (queueing behind the batch being committed + lingering + its own batch's transaction);
- `write_batch`: one batch's statement (awaited by the writer task), and `commit_batch_size`;
- `signal_deliveries` (one batched signal-with-start) and `signal_batch_size`;
- `mark_signaled` (one set-based UPDATE per batch);
- `receive_total`: the whole handler.

Every second and at shutdown the timings go to BENCH_TRACE_FILE as JSON {step: [ms, ...]}.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ingress.cache as cache
import ingress.signaler as signaler
import ingress.webhooks as receiver
import ingress.writer as writer
from ingress.__main__ import serve
from ingress.app import create_app
from settings import get_settings

TIMINGS: dict[str, list[float]] = {}


def _record(name: str, value: float) -> None:
    TIMINGS.setdefault(name, []).append(value)


def _sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _record(name, (time.perf_counter() - started) * 1000)

    return wrapper


def _async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _record(name, (time.perf_counter() - started) * 1000)

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
    cache.ConfigCache.view = _async("config_lookup", cache.ConfigCache.view)  # type: ignore[method-assign]
    receiver.prepare_verified = _sync("prepare", receiver.prepare_verified)
    writer.GroupCommitWriter.submit = _async("await_commit", writer.GroupCommitWriter.submit)  # type: ignore[method-assign]
    write = _async("write_batch", writer._Connection.write)

    async def counted_write(self: Any, items: Any) -> Any:
        _record("commit_batch_size", float(len(items)))
        return await write(self, items)

    writer._Connection.write = counted_write  # type: ignore[method-assign]
    signal = _async("signal_deliveries", signaler.WorkflowSignaler.signal_deliveries)

    async def counted_signal(self: Any, config: Any, ids: list[str]) -> None:
        _record("signal_batch_size", float(len(ids)))
        await signal(self, config, ids)

    signaler.WorkflowSignaler.signal_deliveries = counted_signal  # type: ignore[method-assign,assignment]
    receiver.mark_signaled = _sync("mark_signaled", receiver.mark_signaled)
    receiver.receive = _async("receive_total", receiver.receive)
    settings = get_settings()
    try:
        serve(
            create_app(settings),
            settings.ingress_host,
            settings.ingress_port,
            timeout_graceful_shutdown=10,
        )
    finally:
        _dump()


if __name__ == "__main__":
    main()
