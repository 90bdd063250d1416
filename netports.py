"""Free TCP ports for servers started by tests, benchmarks and the simulator.

A port the kernel hands out for `bind(("", 0))` comes from the ephemeral range, the same
range it uses for outgoing connections and for other servers asking for "any port" (the
Temporal dev server binds several that way). Between choosing such a port and a child
process binding it, someone else may take it. Ports chosen below the ephemeral range are
never handed out implicitly, so only another explicit choice can collide with them.
"""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10_000


def _ephemeral_start() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port (TIME_WAIT leftovers do not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too, so a port only held by closed connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, outside the kernel's ephemeral range when there is room."""
    top = _ephemeral_start()
    if top - _LOWEST > 1_000:
        for _ in range(200):
            port = random.randrange(_LOWEST, top)
            if not port_in_use(host, port):
                return port
    with socket.socket() as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
        return chosen
