"""Identifiers shaped like GitHub's: numeric ids from per-kind sequences, node ids, git shas."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterator
from functools import lru_cache
from itertools import count

# GitHub's "next" global node ids are a type prefix, an underscore and base64 of a msgpack'd
# tuple; clients treat them as opaque, so the same look (prefix + url-safe base64) is enough.
NODE_PREFIX = {
    "user": "U_kgDO",
    "org": "O_kgDO",
    "repo": "R_kgDO",
    "issue": "I_kwDO",
    "pull": "PR_kwDO",
    "issue_comment": "IC_kwDO",
    "review": "PRR_kwDO",
    "review_comment": "PRRC_kwDO",
    "label": "LA_kwDO",
    "milestone": "MI_kwDO",
    "run": "WFR_kwLO",
    "job": "CR_kwDO",
    "commit": "C_kwDO",
    "ref": "REF_kwDO",
    "tag": "TAG_kwDO",
    "app": "A_kwHO",
    "installation": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u",
    "key": "DK_kwDO",
    "check_suite": "CS_kwDO",
}

# Start each kind where real GitHub ids of that kind roughly are today, so clients that store
# ids in 32-bit columns meet the same overflow they would in production.
ID_START = {
    "user": 100_000,
    "org": 90_000_000,
    "repo": 700_000_000,
    "issue": 2_000_000_000,
    "pull": 1_500_000_000,
    "issue_comment": 2_100_000_000,
    "review": 1_800_000_000,
    "review_comment": 1_600_000_000,
    "label": 5_000_000_000,
    "milestone": 9_000_000,
    "run": 10_000_000_000,
    "job": 30_000_000_000,
    "app": 900_000,
    "installation": 40_000_000,
    "key": 100_000_000,
    "workflow": 60_000_000,
    "hook": 400_000_000,
}


class IdAllocator:
    """Per-kind increasing id sequences."""

    def __init__(self) -> None:
        self._seqs: dict[str, Iterator[int]] = {}

    def next(self, kind: str) -> int:
        seq = self._seqs.get(kind)
        if seq is None:
            seq = self._seqs[kind] = count(ID_START.get(kind, 1))
        return next(seq)


@lru_cache(maxsize=131072)
def node_id(kind: str, ident: int) -> str:
    """An opaque GraphQL node id for an object of `kind` with database id `ident`."""
    packed = base64.urlsafe_b64encode(struct.pack(">Q", ident)).decode().rstrip("=")
    return NODE_PREFIX.get(kind, "X_kwDO") + packed


def git_sha(*parts: object) -> str:
    """A 40-hex sha derived from `parts`: stable across runs for the same seed."""
    return hashlib.sha1("\x00".join(str(p) for p in parts).encode()).hexdigest()
