"""Lowering the CPU priority of background work (the worker, the dev stack's Temporal server).

On a host where the ingress shares CPUs with projection, an acknowledgement has a budget of
milliseconds and projection one of seconds. Three levels (KRATE_WORKER_PRIORITY):

- `normal`: no change;
- `low`: niceness 10 above the starting process: the kernel favours the ingress, and the
  worker still gets a share of a busy CPU;
- `background` (the default): Linux's SCHED_IDLE policy, where the worker runs on whatever CPU
  the ingress and PostgreSQL leave, and an ingress thread that wakes up takes the CPU from it
  at once (with `low` it may wait for the worker's time slice). Under a load that keeps every
  CPU busy, projection waits; deliveries are stored and acknowledged meanwhile and processed
  when the load drops. In a container with CPUs of its own it changes nothing. Where the OS
  has no SCHED_IDLE, niceness 19.

Linux keeps the policy and niceness per thread and new threads inherit their creator's, so a
process is lowered either before it starts threads (`lower_own_priority`) or thread by thread
(`lower_process_priority`, for a child already running).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from settings import CpuPriority

log = logging.getLogger("krate_sync.priority")

LOW_NICENESS = 10
BACKGROUND_NICENESS = 19
# Passes over a running process's threads (each lowers what the one before missed).
PASSES = 5


def _target_niceness(priority: CpuPriority) -> int | None:
    if priority == CpuPriority.LOW:
        return min(19, os.getpriority(os.PRIO_PROCESS, 0) + LOW_NICENESS)
    if priority == CpuPriority.BACKGROUND:
        return BACKGROUND_NICENESS
    return None


def _lower_thread(tid: int, priority: CpuPriority, niceness: int) -> bool:
    """Lower one thread (0: the calling one); True when something changed."""
    changed = False
    if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
        os.setpriority(os.PRIO_PROCESS, tid, niceness)
        changed = True
    idle = getattr(os, "SCHED_IDLE", None)
    if priority == CpuPriority.BACKGROUND and idle is not None:
        if os.sched_getscheduler(tid) != idle:
            os.sched_setscheduler(tid, idle, os.sched_param(0))
            changed = True
    return changed


def lower_own_priority(priority: CpuPriority) -> None:
    """Lower this process; call it before the first thread starts (threads inherit it)."""
    niceness = _target_niceness(priority)
    if niceness is None:
        return
    try:
        _lower_thread(0, priority, niceness)
    except OSError as error:  # not allowed here: run at the normal priority
        log.warning("could not lower this process's CPU priority to %s: %s", priority, error)


def lower_process_priority(pid: int, priority: CpuPriority) -> int:
    """Lower every thread of running process `pid` as `lower_own_priority` would (Linux);
    returns how many threads changed. Threads already that low are left alone; elsewhere, or
    when not allowed, nothing changes."""
    niceness = _target_niceness(priority)
    if niceness is None:
        return 0
    changed = 0
    # A thread the process starts while we go through the list is cloned from one we may not
    # have lowered yet; so go through it again until a pass finds nothing left to lower.
    for _ in range(PASSES):
        try:
            tids = [int(entry.name) for entry in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            tids = [pid]
        lowered = 0
        for tid in tids:
            try:
                lowered += _lower_thread(tid, priority, niceness)
            except OSError as error:  # the thread ended meanwhile, or not allowed
                log.debug("could not lower thread %d of process %d: %s", tid, pid, error)
        changed += lowered
        if not lowered:
            break
    return changed
