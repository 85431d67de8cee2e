"""Writing files so that a crash or a kill never leaves one half-written.

Every output of Magnet (shards, manifests, the graph, paths, usage, exports) is written to a temporary file in
the same folder, flushed to disk and renamed over the target: a reader sees the old file or the new one, never a
part. The temporary name carries the process id, so that machines sharing a folder (``--shard i/n``) never write
the same temporary file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError


class _ProducerFailed(Exception):
    """What the producer of the chunks raised (a read error there is not a write error of the target)."""


def _chunks(text: Iterable[str]) -> Iterator[str]:
    iterator = iter(text)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except Exception as error:
            raise _ProducerFailed() from error
        yield chunk


def write_atomic(path: str | Path, text: str | Iterable[str]) -> Path:
    """Write ``text`` (a string, or chunks of one written as they come, so a large file is never held whole) to
    ``path`` through a flushed temporary file and a rename. An error of the chunks' producer propagates as it
    is; an error writing becomes a ``MagnetError`` naming ``path``; either way the old file is untouched."""
    path = Path(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(_chunks(text))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except _ProducerFailed as failed:
        temporary.unlink(missing_ok=True)
        raise failed.__cause__ from None
    except OSError as error:  # disk full, read-only, quota: name the file; the old one (if any) is untouched
        temporary.unlink(missing_ok=True)
        reason = error.strerror or str(error)
        raise MagnetError(f"{path}: cannot write ({reason}); files written before are unchanged") from None
    except BaseException:  # interrupted: no temporary file is left
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write rows as JSON lines, atomically and as they come (rows may be a generator); returns how many."""
    count = 0

    def lines() -> Iterable[str]:
        nonlocal count
        for row in rows:
            count += 1
            yield json.dumps(row, ensure_ascii=False) + "\n"

    write_atomic(path, lines())
    return count


def read_jsonl(path: str | Path, what: str, error: type[MagnetError] = MagnetError) -> list[Any]:
    """Every value of a JSONL file (blank lines skipped); a line that is not JSON raises ``error`` naming the file,
    the line and ``what`` the file holds."""
    values = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as problem:
                raise error(f"{path}: line {number}: not valid JSON ({problem.msg}) in the {what}") from None
    return values
