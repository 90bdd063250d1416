"""`python -m bench._loadgen ...`: signed GitHub `issues` deliveries at a fixed rate, open loop.

Run as a process of its own so that it never shares a GIL with the receiver. Every request is
built and signed before the clock starts. Request i is due at start + i / rate whatever became
of the earlier ones (a slow answer never lowers the offered rate), and its latency is measured
from that scheduled time to the end of the answer, so queueing anywhere (in this client's
connection pool, the kernel, the server) counts. The HTTP/1.1 client is a small keep-alive
pool on asyncio streams (on uvloop): httpx costs about a millisecond of CPU per request, which
on two cores would be the load generator measuring itself.

Writes a JSON file: {"rows": [[delivery_id, scheduled_unix_s, latency_ms, status], ...],
"send_lag_p99_ms": ..., "connections": ...}. Status 0 is a timeout or a connection error.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvloop

from providers.webhooks import sign_github

TIMEOUT_S = 10.0


def fallback_payload(owner: str, name: str) -> dict[str, Any]:
    """A realistic `issues.opened` body when @octokit/webhooks-examples is not installed."""
    user = {"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User"}
    return {
        "action": "opened",
        "issue": {
            "id": 1,
            "node_id": "I_kwDOA",
            "number": 1,
            "title": "Spelling error in the README file",
            "user": user,
            "labels": [{"id": 1, "name": "bug", "color": "d73a4a", "default": True}],
            "state": "open",
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": "2026-11-01T00:00:00Z",
            "updated_at": "2026-11-01T00:00:00Z",
            "closed_at": None,
            "author_association": "OWNER",
            "body": "It looks like you accidently spelled 'commit' with two 't's.",
            "url": f"https://api.github.com/repos/{owner}/{name}/issues/1",
            "html_url": f"https://github.com/{owner}/{name}/issues/1",
        },
        "repository": {
            "id": 186853002,
            "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
            "name": name,
            "full_name": f"{owner}/{name}",
            "private": False,
            "owner": {**user, "login": owner},
            "html_url": f"https://github.com/{owner}/{name}",
            "default_branch": "main",
        },
        "sender": user,
    }


def build_requests(
    template: dict[str, Any],
    count: int,
    secret: str,
    host: str,
    path: str,
    first: int = 100_000,
) -> list[tuple[str, bytes]]:
    """`count` distinct deliveries (issue number, id and updated_at vary; numbers from `first`),
    signed, as raw HTTP/1.1 requests."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        payload = copy.deepcopy(template)
        issue = payload["issue"]
        number = first + i
        issue["number"] = number
        issue["id"] = 9_000_000_000 + number
        issue["updated_at"] = (base + timedelta(seconds=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
        issue["title"] = f"benchmark issue {number}"
        body = json.dumps(payload).encode()
        delivery_id = str(uuid.uuid4())
        headers = sign_github(body, secret, event="issues", delivery_id=delivery_id)
        headers["User-Agent"] = "GitHub-Hookshot/bench"
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        out.append((delivery_id, head.encode() + body))
    return out


class Pool:
    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)
        self.opened = 0

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def _exchange(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], raw: bytes
    ) -> tuple[int, bool]:
        reader, writer = conn
        writer.write(raw)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if length:
            await reader.readexactly(length)
        return status, close

    async def send(self, raw: bytes) -> int:
        async with self.slots:
            while True:
                # An idle keep-alive connection may have been closed by the server (its idle
                # timeout) since it was last used: drop it and take the next one; a fresh
                # connection that fails is a real failure.
                reused = bool(self.idle)
                conn = await self._connection()
                try:
                    status, close = await self._exchange(conn, raw)
                except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                    conn[1].close()
                    if reused:
                        continue
                    raise
                except asyncio.CancelledError:
                    conn[1].close()  # timed out mid-answer: this connection is unusable
                    raise
                if close:
                    conn[1].close()
                else:
                    self.idle.append(conn)
                return status


def _template(args: argparse.Namespace) -> dict[str, Any]:
    if args.template:
        loaded: dict[str, Any] = json.loads(Path(args.template).read_text())
        return loaded
    return fallback_payload(*args.repository.split("/", 1))


async def run(args: argparse.Namespace, template: dict[str, Any]) -> dict[str, Any]:
    count = int(args.rate * args.seconds)
    requests = build_requests(
        template, count, args.secret, f"127.0.0.1:{args.port}", args.path, args.first_number
    )
    pool = Pool("127.0.0.1", args.port, args.connections)
    loop = asyncio.get_running_loop()
    rows: list[list[Any]] = []
    lags: list[float] = []

    errors: dict[str, int] = {}

    async def one(delivery_id: str, raw: bytes, due: float, due_wall: float) -> None:
        try:
            status = await asyncio.wait_for(pool.send(raw), TIMEOUT_S)
        except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError) as error:
            status = 0
            name = type(error).__name__
            errors[name] = errors.get(name, 0) + 1
        rows.append([delivery_id, due_wall, (clock() - due) * 1000.0, status])

    # perf_counter, not loop.time(): uvloop's loop clock has millisecond resolution.
    clock = time.perf_counter
    start = clock() + 0.2
    start_wall = time.time() + 0.2
    tasks: list[asyncio.Task[None]] = []
    for i, (delivery_id, raw) in enumerate(requests):
        due = start + i / args.rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(max(0.0, clock() - due) * 1000.0)
        tasks.append(loop.create_task(one(delivery_id, raw, due, start_wall + i / args.rate)))
    await asyncio.wait(tasks, timeout=TIMEOUT_S + 5)
    lags.sort()
    return {
        "rows": rows,
        "sent": len(tasks),
        "send_lag_p99_ms": lags[int(0.99 * (len(lags) - 1))] if lags else None,
        "connections": pool.opened,
        "errors": errors,
        "offered_seconds": args.seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench-loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--template", help="a JSON issues payload; default: a built-in one")
    parser.add_argument("--repository", default="Codertocat/Hello-World")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument(
        "--first-number", type=int, default=100_000, help="issue number of the first delivery"
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    # uvloop, as the receivers use: the generator shares the two cores with what it measures,
    # and asyncio's own loop cost about a third more CPU per request.
    result = uvloop.run(run(args, _template(args)))
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
