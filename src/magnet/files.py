"""Writing files so that a crash or a kill never leaves one half-written.

Every output of Magnet (shards, manifests, the graph, paths, usage, exports) is written to a temporary file in
the same folder, flushed to disk and renamed over the target: a reader sees the old file or the new one, never a
part. The temporary name carries the process id, so that machines sharing a folder (``--shard i/n``) never write
the same temporary file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a flushed temporary file and a rename."""
    path = Path(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError as error:  # disk full, read-only, quota: name the file; the old one (if any) is untouched
        temporary.unlink(missing_ok=True)
        reason = error.strerror or str(error)
        raise MagnetError(f"{path}: cannot write ({reason}); files written before are unchanged") from None
    return path


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write rows as JSON lines, atomically; returns how many."""
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    write_atomic(path, "".join(lines))
    return len(lines)
