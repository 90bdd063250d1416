"""Lowering the CPU priority of background work (the worker, the dev stack's Temporal server).

On a host where the ingress shares CPUs with projection, an acknowledgement has a budget of
milliseconds and projection one of seconds; a higher niceness lets the kernel run the ingress
first whenever both want a CPU. Alone on its CPUs a niced process runs as fast as ever.

Linux keeps a niceness per thread and new threads inherit their creator's, so a process is
lowered either before it starts threads (`lower_own_priority`) or thread by thread
(`lower_process_priority`, for a child already running).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("krate_sync.priority")


def lower_own_priority(nice: int) -> None:
    """Add `nice` to this process's niceness; call it before the first thread starts."""
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except OSError as error:  # not allowed here: run at the normal priority
        log.warning("could not lower this process's CPU priority by %d: %s", nice, error)


def lower_process_priority(pid: int, nice: int) -> int:
    """Run every thread of process `pid` `nice` steps below this process, as
    `lower_own_priority` would (Linux); returns how many threads were changed. Threads already
    that low are left alone; elsewhere, or when not allowed, nothing changes."""
    if nice <= 0:
        return 0
    target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice)
    tasks = Path(f"/proc/{pid}/task")
    try:
        tids = [int(entry.name) for entry in tasks.iterdir()]
    except OSError:
        tids = [pid]
    changed = 0
    for tid in tids:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
                changed += 1
        except OSError as error:  # the thread ended meanwhile, or not allowed
            log.debug("could not lower thread %d of process %d: %s", tid, pid, error)
    return changed
