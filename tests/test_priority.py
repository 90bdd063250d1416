"""Background work runs below the ingress: the worker lowers itself at start, the dev stack
(and the webhook benchmark) lower the Temporal dev server thread by thread."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import psutil
import pytest

from starter.priority import lower_own_priority, lower_process_priority

THREADED_CHILD = textwrap.dedent(
    """
    import threading, time
    for _ in range(3):
        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def threaded_child() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", THREADED_CHILD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        yield child
    finally:
        child.kill()
        child.wait(10)


def _thread_niceness(pid: int) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, t.id) for t in psutil.Process(pid).threads()}


def test_every_thread_of_a_running_child_is_lowered(
    threaded_child: subprocess.Popen[str],
) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    expected = min(19, own + 7)
    assert len(psutil.Process(threaded_child.pid).threads()) == 4
    assert lower_process_priority(threaded_child.pid, 7) == (4 if expected > own else 0)
    assert _thread_niceness(threaded_child.pid) == {expected}
    assert lower_process_priority(threaded_child.pid, 7) == 0  # already that low


def test_zero_changes_nothing(threaded_child: subprocess.Popen[str]) -> None:
    before = _thread_niceness(threaded_child.pid)
    assert lower_process_priority(threaded_child.pid, 0) == 0
    lower_own_priority(0)
    assert _thread_niceness(threaded_child.pid) == before
    assert os.getpriority(os.PRIO_PROCESS, 0) == min(before)


def test_the_worker_lowers_itself_before_its_threads_start() -> None:
    probe = textwrap.dedent(
        """
        import os, threading
        from starter.priority import lower_own_priority
        lower_own_priority(5)
        seen = []
        t = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0)))
        t.start(); t.join()
        print(os.getpriority(os.PRIO_PROCESS, 0), seen[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5)
    assert [int(v) for v in out] == [expected, expected]
