"""Webhook ingress: ack latency and delivery-to-projection latency at a sustained rate, beside
a bare receiver measured the same way in the same run.

    python bench/webhooks.py --rate 500 --seconds 20 --json

Processes (2 cores shared by all of them):

- the Temporal dev server, and a worker process running BindingSyncWorkflow with the real
  `process_deliveries` (bench/_webhook_worker.py; backfill reports every scope empty);
- the real ingress, `python -m ingress` (uvicorn, uvloop, httptools), on a scratch database
  holding a GitHub provider with a webhook secret file and a binding for the payloads'
  repository;
- the bare receiver (bench/_bare_receiver.py): verify the signature, store payload + delivery
  row durably through the ingress's own group-commit writer, answer; served the same way, on a
  scratch database of its own on the same server (the ingress's sweeper must not touch its
  rows);
- the load generator (bench/_loadgen.py), open loop: request i is due at i / rate seconds and
  its latency runs from that due time, so a slow answer never lowers the offered rate.

Phases: a warm-up of each receiver at the measured rate (--warmup-seconds, not measured; its
deliveries are projected and then both databases are analyzed, so the run measures a service in
its steady state rather than tables PostgreSQL has no statistics for), the bare receiver for
--seconds, then the ingress for --seconds; then we wait (bounded) until the workflow has processed the
deliveries and read each delivery row's phase and update time: projection latency is that
time minus the delivery's due time. `ack_cost_ratio` = ingress p99 ÷ bare p99. The JSON
also has the CPU each process used per delivery (`cpu_ms_per_delivery`), for each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _common
from netports import free_port

ORG = "bench"
NAMESPACE = "krate-org-bench"
PROVIDER = "github-bench"
SECRET = "bench-webhook-secret"
EXAMPLES = (
    _common.REPO_ROOT
    / "tests/npm/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
)
FINISHED = ("Processed", "Ignored", "DeadLettered")


def template(tmp: Path) -> tuple[Path | None, str, str]:
    """The `issues.opened` example of @octokit/webhooks-examples when installed (else the load
    generator's built-in payload); returns (file or None, repository, source)."""
    if EXAMPLES.exists():
        catalogue = {e["name"]: e["examples"] for e in json.loads(EXAMPLES.read_text())}
        opened = next(p for p in catalogue["issues"] if p.get("action") == "opened")
        path = tmp / "issues-opened.json"
        path.write_text(json.dumps(opened))
        return path, str(opened["repository"]["full_name"]), "@octokit/webhooks-examples"
    return None, "Codertocat/Hello-World", "built-in issues.opened payload"


def manifests(repository: str) -> list[dict[str, Any]]:
    owner, name = repository.split("/", 1)
    provider = {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalBackendProvider",
        "metadata": {"name": PROVIDER, "namespace": NAMESPACE},
        "spec": {
            "organizationRef": ORG,
            "providerType": "github",
            "apiBaseUrl": "http://127.0.0.1:9",  # never called: backfill is idle here
            "authRef": {"secretRef": {"name": "github-token"}},
            "capabilities": {"issueTracking": True, "cicd": True, "gitForge": True},
            "webhook": {"secretRef": {"name": "github-webhook", "key": "secret"}},
        },
    }
    binding = {
        "apiVersion": "krate.a5c.ai/v1alpha1",
        "kind": "ExternalBackendBinding",
        "metadata": {"name": f"bench-{uuid.uuid4().hex[:8]}", "namespace": NAMESPACE},
        "spec": {
            "organizationRef": ORG,
            "providerRef": PROVIDER,
            "targetRef": {"kind": "Repository", "name": name.lower()},
            "externalRef": {"owner": owner, "repository": name},
            "interfaces": {
                "issueTracking": {"enabled": True, "mode": "bidirectional"},
                "cicd": {"enabled": True, "mode": "external-owned"},
                "gitForge": {"enabled": True, "mode": "bidirectional"},
            },
        },
    }
    return [provider, binding]


def apply(database_url: str, documents: list[dict[str, Any]]) -> None:
    from store.db import make_engine, session_scope
    from store.resources import apply_resource

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            for document in documents:
                apply_resource(session, document)
    finally:
        engine.dispose()


def load(
    port: int,
    path: str,
    rate: float,
    seconds: float,
    out: Path,
    template_file: Path | None,
    repository: str,
    first_number: int = 100_000,
) -> dict[str, Any]:
    args = [
        sys.executable,
        "-m",
        "bench._loadgen",
        "--port",
        str(port),
        "--path",
        path,
        "--rate",
        str(rate),
        "--seconds",
        str(seconds),
        "--secret",
        SECRET,
        "--repository",
        repository,
        "--out",
        str(out),
        "--first-number",
        str(first_number),
    ]
    if template_file is not None:
        args += ["--template", str(template_file)]
    subprocess.run(args, cwd=_common.REPO_ROOT, check=True, timeout=seconds + 120)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def latency_summary(result: dict[str, Any], rate: float) -> dict[str, Any]:
    rows = result["rows"]
    latencies = [r[2] for r in rows]
    ok = [r for r in rows if 200 <= r[3] < 300]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
    first_due = min((r[1] for r in rows), default=0.0)
    last_done = max((r[1] + r[2] / 1000 for r in rows), default=0.0)
    span = max(1e-9, last_done - first_due)
    return {
        "offered_rate": rate,
        "sent": result["sent"],
        "ok": len(ok),
        "statuses": statuses,
        "achieved_rate": round(len(ok) / span, 1),
        "p50_ms": _common.rounded(_common.percentile(latencies, 0.50)),
        "p99_ms": _common.rounded(_common.percentile(latencies, 0.99)),
        "p999_ms": _common.rounded(_common.percentile(latencies, 0.999)),
        "max_ms": _common.rounded(max(latencies, default=None) if latencies else None),
        "send_lag_p99_ms": _common.rounded(result.get("send_lag_p99_ms")),
        "connections": result.get("connections"),
        "errors": result.get("errors", {}),
    }


def projection_latencies(
    database_url: str, due: dict[str, float], timeout: float
) -> tuple[list[float], dict[str, int], float]:
    """Wait (at most `timeout` s) until every delivery in `due` is finished; return each
    finished one's latency (row update time minus due time, ms), phases, and the wait."""
    started = time.monotonic()
    query = (
        "SELECT delivery_id, phase, extract(epoch from updated_at) FROM webhook_deliveries "
        "WHERE provider_ref = %s"
    )
    with _common.connect(database_url) as conn:
        while True:
            rows = [r for r in conn.execute(query, (PROVIDER,)).fetchall() if r[0] in due]
            done = [r for r in rows if r[1] in FINISHED]
            if len(done) >= len(due) or time.monotonic() - started > timeout:
                break
            time.sleep(0.25)
    phases: dict[str, int] = {}
    for r in rows:
        phases[str(r[1])] = phases.get(str(r[1]), 0) + 1
    latencies = [(float(r[2]) - due[r[0]]) * 1000.0 for r in done]
    return latencies, phases, time.monotonic() - started


def trace_summary(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    timings: dict[str, list[float]] = json.loads(path.read_text())
    return {
        step: {
            "count": len(values),
            "mean_ms": round(sum(values) / len(values), 2),
            "p50_ms": _common.rounded(_common.percentile(values, 0.5)),
            "p99_ms": _common.rounded(_common.percentile(values, 0.99)),
        }
        for step, values in timings.items()
        if values
    }


@dataclass
class Phase:
    """One receiver's measured run: the load generator's result, the disk's sync times
    meanwhile, and the CPU and WAL readings taken as it began."""

    result: dict[str, Any]
    sync: dict[str, Any]
    cpu_before: dict[str, float]
    wal_before: int


# Issue numbers of the warm-up's deliveries: apart from the measured ones (from 100,000).
WARMUP_FIRST_NUMBER = 1_000_000


def wal_position(database_url: str) -> int:
    """The server's current WAL position, in bytes."""
    with _common.connect(database_url) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    return int(row[0]) if row else 0


def steady_state(
    db: str,
    bare_db: str,
    bare_port: int,
    ingress_port: int,
    path: str,
    rate: float,
    seconds: float,
    tmp: Path,
    template_file: Path | None,
    repository: str,
) -> None:
    """Bring both databases to the state of a service that has been running: `seconds` of
    deliveries at `rate` through each receiver (issues the measured run does not touch), wait
    until the ingress's are projected, then ANALYZE both databases, as autovacuum does on a
    running server within its first minute. A database created seconds before has no
    statistics at all: PostgreSQL then plans the batch's lookups by key as scans of the whole
    table (and keeps those plans), which is not what a deployed service runs."""
    _common.log(f"warm-up: {seconds:g} s at {rate:g}/s on each receiver, then ANALYZE")
    for port in (bare_port, ingress_port):  # the ingress last: its deliveries are awaited
        warm = load(
            port,
            path,
            rate,
            seconds,
            tmp / "warm.json",
            template_file,
            repository,
            first_number=WARMUP_FIRST_NUMBER,
        )
    due = {r[0]: r[1] for r in warm["rows"] if 200 <= r[3] < 300}
    projection_latencies(db, due, timeout=max(60.0, 3 * seconds))
    for url in (db, bare_db):
        with _common.connect(url) as conn:
            conn.execute("ANALYZE")


async def run(
    rate: float,
    seconds: float,
    warmup: bool,
    warmup_seconds: float = 10.0,
    traced: bool = False,
    logs: Path | None = None,
) -> dict[str, Any]:
    trace: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="krate-bench-wh-") as tmp_name:
        tmp = Path(tmp_name)
        secrets_dir = tmp / "secrets"
        secret_file = secrets_dir / NAMESPACE / "github-webhook" / "secret"
        secret_file.parent.mkdir(parents=True)
        secret_file.write_text(SECRET + "\n")
        template_file, repository, source = template(tmp)
        payload_bytes = template_file.stat().st_size if template_file else None
        with (
            _common.postgres_server() as server,
            _common.scratch_database(server) as db,
            _common.scratch_database(server) as bare_db,
        ):
            apply(db, manifests(repository))
            env = await _common.start_dev_server()
            try:
                address = env.client.service_client.config.target_host
                task_queue = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
                krate_env = {
                    "KRATE_DATABASE_URL": db,
                    "KRATE_TEMPORAL_ADDRESS": address,
                    "KRATE_TASK_QUEUE": task_queue,
                    "KRATE_SECRETS_DIR": str(secrets_dir),
                }
                ingress_port, bare_port = free_port(), free_port()
                with (
                    _common.child(
                        ["-m", "bench._webhook_worker"],
                        env=krate_env,
                        name="worker",
                        log_path=tmp / "worker.log",
                    ) as worker_proc,
                    _common.child(
                        ["-m", "bench._ingress_traced" if traced else "ingress"],
                        env={
                            **krate_env,
                            "KRATE_INGRESS_PORT": str(ingress_port),
                            "BENCH_TRACE_FILE": str(tmp / "trace.json"),
                        },
                        ready_url=f"http://127.0.0.1:{ingress_port}/healthz",
                        name="ingress",
                        log_path=tmp / "ingress.log",
                    ) as ingress_proc,
                    # A database of its own on the same server: the ingress's sweeper must not
                    # find (and settle) the bare receiver's rows while either is measured.
                    _common.child(
                        ["-m", "bench._bare_receiver", "--port", str(bare_port)],
                        env={
                            **krate_env,
                            "KRATE_DATABASE_URL": bare_db,
                            "BENCH_WEBHOOK_SECRET": SECRET,
                        },
                        ready_url=f"http://127.0.0.1:{bare_port}/healthz",
                        name="bare receiver",
                        log_path=tmp / "bare.log",
                    ) as bare_proc,
                ):
                    meter = CpuMeter(
                        [db, bare_db],
                        ingress=ingress_proc.pid,
                        worker=worker_proc.pid,
                        bare=bare_proc.pid,
                    )
                    _wait_for_line(tmp / "worker.log", "worker ready", 60)
                    path = f"/webhooks/{ORG}/{PROVIDER}"
                    if warmup:
                        steady_state(
                            db,
                            bare_db,
                            bare_port,
                            ingress_port,
                            path,
                            rate,
                            warmup_seconds,
                            tmp,
                            template_file,
                            repository,
                        )
                    sync_dir = _common.database_directory(db) or tmp
                    with _common.FsyncProbe(sync_dir) as probe:

                        def phase(name: str, port: int, out: str) -> Phase:
                            _common.log(f"{name}: {rate}/s for {seconds} s")
                            cpu, wal, began = meter.read(), wal_position(db), time.monotonic()
                            result = load(
                                port, path, rate, seconds, tmp / out, template_file, repository
                            )
                            return Phase(result, probe.summary(began, time.monotonic()), cpu, wal)

                        bare_phase = phase("bare receiver", bare_port, "bare.json")
                        bare_cpu = meter.since(bare_phase.cpu_before)
                        bare_wal = wal_position(db) - bare_phase.wal_before
                        ingress_phase = phase("ingress", ingress_port, "ingress.json")
                    bare, bare_sync = bare_phase.result, bare_phase.sync
                    ingress, ingress_sync = ingress_phase.result, ingress_phase.sync
                    due = {r[0]: r[1] for r in ingress["rows"] if 200 <= r[3] < 300}
                    _common.log(f"waiting for {len(due)} deliveries to be projected")
                    projection, phases, waited = projection_latencies(
                        db, due, timeout=max(60.0, 3 * seconds)
                    )
                    ingress_cpu = meter.since(ingress_phase.cpu_before)
                    ingress_wal = wal_position(db) - ingress_phase.wal_before
                if traced:
                    trace = trace_summary(tmp / "trace.json")
                if logs is not None:
                    copy_logs(tmp, logs)
            finally:
                await env.shutdown()
    ing = latency_summary(ingress, rate)
    bare_summary = latency_summary(bare, rate)
    p99, bare_p99 = ing["p99_ms"], bare_summary["p99_ms"]
    return {
        "benchmark": "webhooks",
        "rate": rate,
        "seconds": seconds,
        "warmup_seconds": warmup_seconds if warmup else 0,
        "payload": source,
        "payload_bytes": payload_bytes,
        "p50_ack_ms": ing["p50_ms"],
        "p99_ack_ms": p99,
        "p999_ack_ms": ing["p999_ms"],
        "max_ack_ms": ing["max_ms"],
        "achieved_rate": ing["achieved_rate"],
        "ingress": ing,
        "bare_p50_ack_ms": bare_summary["p50_ms"],
        "bare_p99_ack_ms": bare_p99,
        "bare_p999_ack_ms": bare_summary["p999_ms"],
        "bare": bare_summary,
        "ack_cost_ratio": round(p99 / bare_p99, 3) if p99 and bare_p99 else None,
        # Above capacity both p99s are the client's 10 s timeout and their ratio says nothing;
        # what each receiver got through does.
        "throughput_ratio": (
            round(ing["achieved_rate"] / bare_summary["achieved_rate"], 3)
            if bare_summary["achieved_rate"]
            else None
        ),
        "saturated": ing["ok"] < 0.95 * ing["sent"] or ing["achieved_rate"] < 0.95 * rate,
        "p50_projection_ms": _common.rounded(_common.percentile(projection, 0.50)),
        "p99_projection_ms": _common.rounded(_common.percentile(projection, 0.99)),
        "max_projection_ms": _common.rounded(max(projection) if projection else None),
        "projected": len(projection),
        "acknowledged": len(due),
        "delivery_phases": phases,
        "projection_wait_s": round(waited, 1),
        "ingress_trace": trace,
        # CPU milliseconds each process used per delivery: the ingress phase through the end
        # of projection, and the bare phase. `postgres` is the backends of this run's two
        # databases, `postgres_background` the server's own processes (shared with anything
        # else on the server), `others` everything else on the machine (other engineers' runs).
        "cpu_ms_per_delivery": {
            "ingress_run": _per_delivery(ingress_cpu, ing["sent"]),
            "bare_run": _per_delivery(bare_cpu, bare_summary["sent"]),
        },
        "cpu_seconds": {"ingress_run": ingress_cpu, "bare_run": bare_cpu},
        # How long the disk under the database took to sync 8 kB during each phase: every
        # acknowledgement waits for one such flush, so a stall shows in both receivers' p99.
        "disk_sync": {
            "directory": str(sync_dir),
            "bare_run": bare_sync,
            "ingress_run": ingress_sync,
        },
        # WAL the server wrote per delivery (every commit waits for its flush to disk).
        "wal_kb_per_delivery": {
            "ingress_run": round(ingress_wal / 1024 / max(1, ing["sent"]), 2),
            "bare_run": round(bare_wal / 1024 / max(1, bare_summary["sent"]), 2),
        },
        "ingress_process": "bench._ingress_traced (steps timed)" if traced else "python -m ingress",
        "machine": _common.machine(),
    }


class CpuMeter:
    """CPU seconds used by our children, our Temporal dev server, the PostgreSQL backends of
    our databases (plus the server's own background processes: WAL writer, checkpointer...),
    the load generator, and by the whole machine, so what is left is everybody else's (other
    engineers' test runs share the cores)."""

    def __init__(self, databases: list[str], **pids: int) -> None:
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.databases = [db.rsplit("/", 1)[-1].split("?", 1)[0] for db in databases]

    def read(self) -> dict[str, float]:
        import resource

        import psutil

        out: dict[str, float] = {}
        for name, proc in self.procs.items():
            times = proc.cpu_times()
            out[name] = times.user + times.system
        out["temporal"] = 0.0
        out["postgres"] = 0.0
        out["postgres_background"] = 0.0
        for proc in psutil.Process().children(recursive=True):
            try:
                if proc.name() == "temporal":
                    times = proc.cpu_times()
                    out["temporal"] += times.user + times.system
            except psutil.Error:
                continue
        for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            times = proc.info["cpu_times"]
            if times is None or proc.info["name"] not in ("postgres", "postmaster"):
                continue
            title = " ".join(proc.info["cmdline"] or [])
            if any(db in title for db in self.databases):
                out["postgres"] += times.user + times.system
            elif not any(tag in title for tag in ("127.0.0.1(", "[local]", "::1(")):
                out["postgres_background"] += times.user + times.system
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the finished load generators
        out["loadgen"] = children.ru_utime + children.ru_stime
        total = psutil.cpu_times()
        # `nice` is user time of processes running at a lowered priority (the worker's).
        out["machine"] = (
            total.user
            + getattr(total, "nice", 0.0)
            + total.system
            + getattr(total, "irq", 0.0)
            + getattr(total, "softirq", 0.0)
        )
        return out

    def since(self, before: dict[str, float]) -> dict[str, float]:
        now = self.read()
        used = {name: round(now[name] - before.get(name, 0.0), 2) for name in now}
        ours = sum(v for k, v in used.items() if k != "machine")
        used["others"] = round(max(0.0, used["machine"] - ours), 2)
        return used


def _per_delivery(cpu: dict[str, float], deliveries: int) -> dict[str, float]:
    if not deliveries:
        return {}
    return {name: round(1000.0 * value / deliveries, 3) for name, value in cpu.items()}


def copy_logs(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in ("worker.log", "ingress.log", "bare.log", "ingress.json", "bare.json"):
        if (source / name).exists():
            shutil.copy(source / name, target / name)


def _wait_for_line(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{path.name}: no {text!r} within {timeout} s")


def human(result: dict[str, Any]) -> str:
    ing, bare = result["ingress"], result["bare"]
    rows = [
        ("offered rate", f"{result['rate']}/s for {result['seconds']} s ({result['payload']})"),
        ("ingress ack p50/p99/p99.9", f"{ing['p50_ms']} / {ing['p99_ms']} / {ing['p999_ms']} ms"),
        ("ingress achieved", f"{ing['achieved_rate']}/s, statuses {ing['statuses']}"),
        ("bare ack p50/p99/p99.9", f"{bare['p50_ms']} / {bare['p99_ms']} / {bare['p999_ms']} ms"),
        ("bare achieved", f"{bare['achieved_rate']}/s, statuses {bare['statuses']}"),
        ("ack cost ratio (p99)", result["ack_cost_ratio"]),
        ("throughput ratio (ingress / bare)", result["throughput_ratio"]),
        ("ingress saturated", result["saturated"]),
        (
            "disk sync max (bare / ingress)",
            f"{result['disk_sync']['bare_run']['max_ms']} / "
            f"{result['disk_sync']['ingress_run']['max_ms']} ms",
        ),
        (
            "projection p50/p99",
            f"{result['p50_projection_ms']} / {result['p99_projection_ms']} ms "
            f"({result['projected']}/{result['acknowledged']} projected)",
        ),
    ]
    for step, numbers in (result.get("ingress_trace") or {}).items():
        rows.append(
            (f"  ingress {step}", f"mean {numbers['mean_ms']} ms, p99 {numbers['p99_ms']} ms")
        )
    return "webhook benchmark\n" + _common.table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second")
    parser.add_argument("--seconds", type=float, default=10, help="per receiver")
    parser.add_argument("--json", action="store_true", help="print the JSON object on stdout")
    parser.add_argument("--no-warmup", action="store_true")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=10.0,
        help="deliveries at --rate through each receiver before measuring (then ANALYZE)",
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="run the ingress through bench/_ingress_traced.py: each receiver step timed",
    )
    parser.add_argument(
        "--logs",
        type=Path,
        help="copy the children's logs and the per-request results to this directory",
    )
    args = parser.parse_args(argv)
    with _common.stdout_reserved() as stdout:
        result = asyncio.run(
            run(
                args.rate,
                args.seconds,
                not args.no_warmup,
                args.warmup_seconds,
                args.traced,
                args.logs,
            )
        )
        result["command"] = " ".join(["python", "bench/webhooks.py", *(argv or sys.argv[1:])])
        path = _common.write_result("webhooks", result)
        print(human(result), file=sys.stderr)
        print(f"  written to {path.relative_to(_common.REPO_ROOT)}", file=sys.stderr)
        if args.json:
            print(json.dumps(result, sort_keys=True), file=stdout, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
