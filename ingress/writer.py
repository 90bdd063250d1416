"""Group commit: concurrent webhook requests share one transaction, and each acks after it.

A request hands its verified delivery (payload by digest + the delivery row's column values) to
the writer and waits for its own outcome. The writer takes everything queued (up to
`max_batch`, after lingering `linger` seconds for company) and writes it with one statement,
which is one transaction and one fsync:

    WITH payloads AS (INSERT INTO webhook_payloads SELECT * FROM unnest(...)
                      ON CONFLICT (digest) DO NOTHING)
    INSERT INTO webhook_deliveries SELECT * FROM unnest(...)
    ON CONFLICT DO NOTHING RETURNING org, provider_ref, delivery_id

Its text is the same for every batch size (one array per column), so it is prepared once.
Rows that were not inserted already existed (a redelivery, or a copy that committed first):
one more query reads their name and phase. While one batch commits the next one forms, so
batches grow with the load. Outcomes:

- inserted: the row is durable (the statement committed): the request may answer 2xx;
- duplicate: the (org, provider, delivery id) row already exists, committed: answer 200;
- an exception: nothing of the batch was stored (one statement); the request answers 5xx.

An error that belongs to one row (a data or constraint error other than the duplicate) would
otherwise fail its batch-mates on every redelivery, so such a batch is written again one row
per statement: only the culprit fails. Connection-level errors fail the whole batch at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Engine, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from settings import libpq_url
from store import canonical
from store.aggregated import column_values
from store.manifests import parse_manifest
from store.models.aggregated import WebhookDelivery, WebhookPayload

log = logging.getLogger("krate_sync.ingress.writer")

DELIVERIES: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
PAYLOADS: Table = WebhookPayload.__table__  # type: ignore[attr-defined]
# Columns the database fills (serial id, uid, generation, times); every other column is sent,
# None where a manifest leaves it out, so all rows of a batch share one statement.
_SERVER_FILLED = frozenset({"id", "uid", "generation", "created_at", "updated_at"})
DELIVERY_COLUMNS = tuple(c.name for c in DELIVERIES.c if c.name not in _SERVER_FILLED)

_JSONB = frozenset(c.name for c in DELIVERIES.c if isinstance(c.type, JSONB))


def _sql_type(column: str) -> str:
    return str(DELIVERIES.c[column].type.compile(dialect=postgresql.dialect()))  # type: ignore[no-untyped-call]


# One statement for any batch size: each column travels as one array parameter, in binary
# (as text, a 12 kB body would be hex-escaped and then quoted as an array element: most of
# the statement's CPU).
_INSERT = (
    "WITH payloads AS ("
    "INSERT INTO webhook_payloads (digest, body, content_type, size) "
    "SELECT * FROM unnest(%b::varchar[], %b::bytea[], %b::varchar[], %b::integer[]) "
    "ON CONFLICT (digest) DO NOTHING) "
    f"INSERT INTO webhook_deliveries ({', '.join(DELIVERY_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'%b::{_sql_type(c)}[]' for c in DELIVERY_COLUMNS)}) "
    "ON CONFLICT DO NOTHING RETURNING org, provider_ref, delivery_id"
)
_EXISTING = (
    "SELECT org, provider_ref, delivery_id, name, phase FROM webhook_deliveries "
    "WHERE (org, provider_ref, delivery_id) IN "
    "(SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::varchar[]))"
)


def _column_arrays(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """One list per column, JSONB values serialized as the engine would."""
    arrays: list[list[Any]] = []
    for column in DELIVERY_COLUMNS:
        if column in _JSONB:
            arrays.append(
                [
                    Jsonb(r[column], dumps=canonical.dumps) if r[column] is not None else None
                    for r in rows
                ]
            )
        else:
            arrays.append([r[column] for r in rows])
    return arrays


DEFAULT_MAX_BATCH = 256
DEFAULT_LINGER = 0.002


@dataclass(frozen=True)
class PendingDelivery:
    """One verified delivery, ready to insert: its payload (None for none) and row values."""

    org: str
    provider: str
    delivery_id: str
    values: dict[str, Any]
    digest: str | None = None
    body: bytes | None = None
    content_type: str = "application/json"

    @property
    def key(self) -> tuple[str, str, str]:
        return self.org, self.provider, self.delivery_id


@dataclass(frozen=True)
class WriteOutcome:
    name: str
    delivery_id: str
    phase: str | None
    duplicate: bool = False


def delivery_values(manifest: dict[str, Any]) -> dict[str, Any]:
    """The webhook_deliveries columns of an ExternalWebhookDelivery manifest (the same
    conversion `insert_aggregated` makes), with every column present."""
    values = column_values(parse_manifest(manifest))
    return {name: values.get(name) for name in DELIVERY_COLUMNS}


def write_batch(engine: Engine, items: Sequence[PendingDelivery]) -> list[WriteOutcome]:
    """Insert `items` in one transaction on a pooled connection; outcomes in input order.
    Raises when the batch failed (nothing stored) or an item did."""
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        results = write_on(raw, items)
    outcomes: list[WriteOutcome] = []
    for result in results:
        if isinstance(result, Exception):
            raise result
        outcomes.append(result)
    return outcomes


def write_on(
    raw: psycopg.Connection[Any], items: Sequence[PendingDelivery]
) -> list[WriteOutcome | Exception]:
    """One batch's statement on `raw` (in the caller's transaction, or its own in autocommit),
    then the lookup of the duplicates. Raises when the statement fails (nothing stored); an
    item that is neither inserted nor a duplicate gets an exception of its own."""
    batch = _Batch(items)
    with raw.cursor() as cursor:
        cursor.execute(_INSERT, batch.parameters())
        batch.inserted(cursor.fetchall())
        missing = batch.missing()
        if missing:
            cursor.execute(_EXISTING, missing)
            batch.existing(cursor.fetchall())
    return batch.outcomes()


async def write_on_async(
    conn: psycopg.AsyncConnection[Any], items: Sequence[PendingDelivery]
) -> list[WriteOutcome | Exception]:
    """`write_on` on an asyncio connection (the group-commit writer's)."""
    batch = _Batch(items)
    async with conn.cursor() as cursor:
        await cursor.execute(_INSERT, batch.parameters())
        batch.inserted(await cursor.fetchall())
        missing = batch.missing()
        if missing:
            await cursor.execute(_EXISTING, missing)
            batch.existing(await cursor.fetchall())
    return batch.outcomes()


class _Batch:
    """The parameters of one batch's statement, and its outcomes from what the database said."""

    def __init__(self, items: Sequence[PendingDelivery]) -> None:
        self.items = items
        self.payloads: dict[str, tuple[str, bytes, str, int]] = {}
        self.rows: list[dict[str, Any]] = []
        self.first: dict[tuple[str, str, str], int] = {}
        for index, item in enumerate(items):
            if item.digest is not None and item.body is not None:
                self.payloads.setdefault(
                    item.digest, (item.digest, item.body, item.content_type, len(item.body))
                )
            if item.key not in self.first:  # a copy in the same batch duplicates the first
                self.first[item.key] = index
                self.rows.append(item.values)
        # In key order: two processes' batches then take the unique index's locks in one
        # order and cannot deadlock on each other.
        self.rows.sort(key=lambda r: (r["org"], r["provider_ref"], r["delivery_id"]))
        self.stored: set[tuple[str, str, str]] = set()
        self.found: dict[tuple[str, str, str], tuple[str, str | None]] = {}

    def parameters(self) -> list[Any]:
        payloads = list(self.payloads.values())
        parameters: list[Any] = [[p[i] for p in payloads] for i in range(4)]
        parameters.extend(_column_arrays(self.rows))
        return parameters

    def inserted(self, returned: Sequence[tuple[Any, ...]]) -> None:
        self.stored = {(str(o), str(p), str(d)) for o, p, d in returned}

    def missing(self) -> list[list[str]] | None:
        """Keys not inserted (already stored: a redelivery, or a copy that committed first),
        as the lookup's arrays; None when every row was new."""
        keys = [key for key in self.first if key not in self.stored]
        if not keys:
            return None
        # A new statement sees every commit that made our insert do nothing.
        return [[k[i] for k in keys] for i in range(3)]

    def existing(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.found = {(str(o), str(p), str(d)): (str(n), phase) for o, p, d, n, phase in rows}

    def outcomes(self) -> list[WriteOutcome | Exception]:
        outcomes: list[WriteOutcome | Exception] = []
        for index, item in enumerate(self.items):
            if item.key in self.stored:  # the first copy inserted it; later ones duplicate it
                duplicate = self.first[item.key] != index
                outcomes.append(
                    WriteOutcome(
                        str(item.values["name"]), item.delivery_id, item.values["phase"], duplicate
                    )
                )
            elif item.key in self.found:
                name, phase = self.found[item.key]
                outcomes.append(WriteOutcome(name, item.delivery_id, phase, True))
            else:
                # A conflict on another unique key (the object name): not a duplicate of ours.
                outcomes.append(
                    IntegrityError(
                        f"delivery {item.delivery_id} conflicts with a stored object of another "
                        "delivery id",
                        None,
                        ValueError("name taken"),
                    )
                )
        return outcomes


class _Connection:
    """The writer's own connection, on the event loop: no pool checkout and liveness ping per
    batch, and no thread, so no handing the GIL back and forth with the request handlers (under
    load that cost each commit several switch intervals). A batch that fails on a broken
    connection drops it; the next batch connects again."""

    def __init__(self, engine: Engine) -> None:
        self.url = libpq_url(engine.url.render_as_string(hide_password=False))
        self.conn: psycopg.AsyncConnection[Any] | None = None

    async def write(self, items: Sequence[PendingDelivery]) -> list[WriteOutcome | Exception]:
        try:
            if self.conn is None or self.conn.closed:
                # Autocommit: the batch's one statement is its own transaction, so a batch is
                # one round trip and one commit, with no BEGIN/COMMIT exchanges around it.
                self.conn = await psycopg.AsyncConnection.connect(
                    self.url, connect_timeout=5, autocommit=True
                )
            return await write_on_async(self.conn, items)
        except psycopg.Error as error:
            if self.conn is not None and (
                self.conn.broken or isinstance(error, psycopg.OperationalError)
            ):
                await self.conn.close()
                self.conn = None
            raise _as_sqlalchemy(error) from error

    async def write_each(self, items: Sequence[PendingDelivery]) -> list[WriteOutcome | Exception]:
        """One item per statement: a row's own error fails that row only."""
        outcomes: list[WriteOutcome | Exception] = []
        for item in items:
            try:
                outcomes.extend(await self.write([item]))
            except Exception as error:
                outcomes.append(error)
        return outcomes

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None


def _as_sqlalchemy(error: psycopg.Error) -> Exception:
    """The SQLAlchemy exception the rest of the ingress expects for a driver error."""
    if isinstance(error, psycopg.IntegrityError):
        return IntegrityError("webhook delivery batch", None, error)
    if isinstance(error, psycopg.DataError):
        return DataError("webhook delivery batch", None, error)
    if isinstance(error, psycopg.OperationalError):
        return OperationalError("webhook delivery batch", None, error)
    return DBAPIError("webhook delivery batch", None, error)


_Waiting = tuple[PendingDelivery, "asyncio.Future[WriteOutcome]"]


class GroupCommitWriter:
    """One writer task per process; requests `await submit(...)`. At most one batch is being
    committed at any time, so a batch's size adapts to the arrival rate by itself."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        linger: float = DEFAULT_LINGER,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.linger = linger
        self._queue: list[_Waiting] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._connection = _Connection(engine)
        # For tests and benchmarks.
        self.batches = 0
        self.rows = 0

    async def submit(self, item: PendingDelivery) -> WriteOutcome:
        """The item's outcome once its batch committed; raises when the batch failed."""
        future: asyncio.Future[WriteOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._ensure_running().set()
        return await future

    def _ensure_running(self) -> asyncio.Event:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._wakeup

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                await self._wakeup.wait()
                self._wakeup.clear()
                continue
            if self.linger > 0 and len(self._queue) < self.max_batch and not self._closing:
                await asyncio.sleep(self.linger)  # let concurrent requests join this commit
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[_Waiting]) -> None:
        items = [item for item, _ in batch]
        results: Sequence[WriteOutcome | Exception]
        try:
            try:
                results = await self._connection.write(items)
            except (DataError, IntegrityError) as error:
                if len(items) == 1:
                    results = [error]
                else:
                    log.warning(
                        "batch of %d failed on a row (%s); writing one by one", len(items), error
                    )
                    results = await self._connection.write_each(items)
            except Exception as error:  # the database is unreachable, or the statement failed
                results = [error] * len(items)
        except asyncio.CancelledError:
            # Stopped mid-commit: whether it committed is unknown, so no request may say 2xx.
            for _, future in batch:
                if not future.done():
                    future.set_exception(ConnectionAbortedError("the ingress is stopping"))
            raise
        self.batches += 1
        self.rows += sum(1 for r in results if isinstance(r, WriteOutcome) and not r.duplicate)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the request went away; its row is stored all the same
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self, within: float = 10.0) -> None:
        """Commit what is queued (each waiting request gets its answer), then stop."""
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            assert self._wakeup is not None
            self._wakeup.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), within)
            except (TimeoutError, Exception):
                task.cancel()
        await self._connection.close()
