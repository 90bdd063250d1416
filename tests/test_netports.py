"""The ports chosen for child servers stay out of the kernel's ephemeral range.

Regression: CI's dev-stack test chose the ingress port with bind(0); the Temporal dev
server, started before the ingress, took that same port for one of its own listeners.
"""

from __future__ import annotations

import random
import socket

import pytest

import netports


def test_free_port_is_bindable_and_below_the_ephemeral_range() -> None:
    start = netports._ephemeral_start()
    for _ in range(50):
        port = netports.free_port()
        assert netports._LOWEST <= port < start
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_busy_port_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        taken = netports.free_port()
        busy.bind(("127.0.0.1", taken))
        busy.listen()
        spare = netports.free_port()
        picks = iter([taken, taken, spare])
        monkeypatch.setattr(random, "randrange", lambda lo, hi: next(picks))
        assert netports.free_port() == spare
