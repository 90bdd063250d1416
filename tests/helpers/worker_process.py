"""`python -m worker` as a separate process, for the tests that SIGKILL it mid-work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent.parent


def worker_env(
    client: Client, task_queue: str, database_url: str, secrets_dir: Path
) -> dict[str, str]:
    """This process's environment without its KRATE_* settings, plus the worker's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRATE_")}
    env.update(
        KRATE_TEMPORAL_ADDRESS=client.service_client.config.target_host,
        KRATE_TEMPORAL_NAMESPACE=client.namespace,
        KRATE_TASK_QUEUE=task_queue,
        KRATE_DATABASE_URL=database_url,
        KRATE_SECRETS_DIR=str(secrets_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def spawn_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
