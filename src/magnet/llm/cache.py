"""The on-disk request cache: a rerun of the same command pays for nothing it already asked.

Every request is keyed by a stable hash of what determines its answer (model, messages, tools, sampling
parameters and seed) and its answer stored in SQLite: one transaction per answer, so concurrent writers (several
processes of a run) are safe and a crash mid-write loses at most the answer being written, never the file.
API keys are never part of a request as the cache sees it, so they never reach the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    step TEXT NOT NULL,
    answer TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def request_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]] | None,
    params: Mapping[str, Any],
) -> str:
    """A stable hash of everything that decides an answer: model, messages, tools and sampling parameters
    (the seed included). Dict key order does not matter; a changed value does."""
    canonical = json.dumps(
        {"model": model, "messages": list(messages), "tools": list(tools or []), "params": dict(params)},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class CacheStats:
    """Hits and misses of this process, and answers written."""

    hits: int = 0
    misses: int = 0
    writes: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0 when there were none)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


# File systems whose files several machines write: SQLite's WAL needs its writers' shared memory on one machine,
# so there the cache keeps a rollback journal, which file locks guard (NFSv4, Lustre and the like honour them).
NETWORK_FILE_SYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs", "9p", "afs", "wekafs"}
)


def file_system_type(path: str | Path, mounts: str | None = None) -> str:
    """The type of the file system holding ``path`` (its longest mount point in ``/proc/mounts``); ``""`` where
    that is not known (not Linux)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    target = os.path.realpath(path)
    point, kind = "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mounted = fields[1].replace("\\040", " ")
        inside = target == mounted or target.startswith(mounted.rstrip("/") + "/")
        if inside and len(mounted) >= len(point):
            point, kind = mounted, fields[2]
    return kind


def journal_mode(path: str | Path) -> str:
    """``WAL`` (readers never wait for the writer) on a local disk; ``DELETE`` on a network file system, where the
    parts of a run on several machines (``--shard``, Ray) share the run folder."""
    kind = file_system_type(Path(path).parent)
    return "DELETE" if kind in NETWORK_FILE_SYSTEMS or kind.startswith("fuse.") else "WAL"


class RequestCache:
    """Answers on disk, keyed by ``request_key``. Use one instance per process; it is thread-safe. Its journal is
    ``journal_mode(path)``'s: safe for processes on one machine, and on several sharing a network file system."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stats = CacheStats()
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
            self._db.execute(f"PRAGMA journal_mode={journal_mode(self.path)}")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
        except sqlite3.DatabaseError as error:
            raise MagnetError(
                f"{self.path}: not a usable request cache ({error}); move it away or pass --no-cache"
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer for ``key``, or None (counted as a hit or a miss)."""
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.stats.misses += 1
                return None
            self.stats.hits += 1
        return json.loads(row[0])

    def put(self, key: str, answer: Mapping[str, Any], *, model: str, step: str) -> None:
        """Store an answer (one transaction; an existing answer for the key is replaced)."""
        text = json.dumps(answer, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, model, step, answer, created) VALUES (?, ?, ?, ?, ?)",
                (key, model, step, text, time.time()),
            )
            self.stats.writes += 1

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def counts_by_step(self) -> dict[str, int]:
        """How many answers are stored per step (for ``magnet stats``)."""
        with self._lock:
            rows = self._db.execute("SELECT step, COUNT(*) FROM answers GROUP BY step ORDER BY step").fetchall()
        return dict(rows)

    def close(self) -> None:
        """Close the database (answers are already committed)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
