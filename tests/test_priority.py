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

from settings import CpuPriority, Settings
from starter.priority import BACKGROUND_NICENESS, LOW_NICENESS, lower_process_priority

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


def _threads(pid: int) -> list[int]:
    return [t.id for t in psutil.Process(pid).threads()]


def _niceness(pid: int) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, tid) for tid in _threads(pid)}


def _policies(pid: int) -> set[int]:
    return {os.sched_getscheduler(tid) for tid in _threads(pid)}


def test_background_puts_every_thread_of_a_running_child_on_the_idle_policy(
    threaded_child: subprocess.Popen[str],
) -> None:
    pid = threaded_child.pid
    assert len(_threads(pid)) == 4
    assert _policies(pid) == {os.SCHED_OTHER}
    assert lower_process_priority(pid, CpuPriority.BACKGROUND) == 4
    assert _policies(pid) == {os.SCHED_IDLE}
    assert _niceness(pid) == {BACKGROUND_NICENESS}
    assert lower_process_priority(pid, CpuPriority.BACKGROUND) == 0  # already that low


def test_low_is_a_niceness_below_this_process(threaded_child: subprocess.Popen[str]) -> None:
    pid = threaded_child.pid
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + LOW_NICENESS)
    lower_process_priority(pid, CpuPriority.LOW)
    assert _niceness(pid) == {expected}
    assert _policies(pid) == {os.SCHED_OTHER}


def test_normal_changes_nothing(threaded_child: subprocess.Popen[str]) -> None:
    pid = threaded_child.pid
    before = (_niceness(pid), _policies(pid))
    assert lower_process_priority(pid, CpuPriority.NORMAL) == 0
    assert (_niceness(pid), _policies(pid)) == before


@pytest.mark.parametrize("priority", list(CpuPriority))
def test_a_process_lowers_itself_before_its_threads_start(priority: CpuPriority) -> None:
    """As `python -m worker` does, from KRATE_WORKER_PRIORITY."""
    probe = textwrap.dedent(
        """
        import os, threading
        from settings import Settings
        from starter.priority import lower_own_priority
        lower_own_priority(Settings().worker_priority)
        seen = []
        def look():
            seen.append((os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)))
        t = threading.Thread(target=look)
        t.start(); t.join()
        print(*seen[0], os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0))
        """
    )
    env = {**os.environ, "KRATE_WORKER_PRIORITY": priority.value}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    ).stdout.split()
    own = os.getpriority(os.PRIO_PROCESS, 0)
    expected = {
        CpuPriority.NORMAL: (own, os.SCHED_OTHER),
        CpuPriority.LOW: (min(19, own + LOW_NICENESS), os.SCHED_OTHER),
        CpuPriority.BACKGROUND: (BACKGROUND_NICENESS, os.SCHED_IDLE),
    }[priority]
    assert [int(v) for v in out] == [*expected, *expected]


def test_the_setting_names_its_choices_and_refuses_others() -> None:
    assert Settings().worker_priority == CpuPriority.BACKGROUND
    with pytest.raises(ValueError, match=r"normal.*low.*background"):
        Settings(worker_priority="lowest")
