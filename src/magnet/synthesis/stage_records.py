"""What decides whether a run's files are current: digests of the pool, the settings recorded beside the graph
and the paths, the order items go through a stage, and whether the output folder can be written at all."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError
from magnet.files import write_atomic
from magnet.tools.toolkit import Toolkit


def specs_digest(specs: Sequence[Any]) -> str:
    """A digest of the pool's specs (what the graph is built from)."""
    return hashlib.sha256(json.dumps([spec.to_dict() for spec in specs], default=str).encode()).hexdigest()[:16]


def pool_digest(specs_hash: str, toolkits: Sequence[type[Toolkit]]) -> str:
    """A digest of the pool: its specs (``specs_digest``) and the source of its toolkit classes. It is part of every
    stage's identity, so episodes made with other tools (a changed docstring, response field or function body)
    are never resumed as if they were this pool's."""
    digest = hashlib.sha256(specs_hash.encode())
    for klass in toolkits:
        try:  # an MCP server's class stands for the server: its command line and its seed's files
            source = klass.mcp_server.identity if hasattr(klass, "mcp_server") else inspect.getsource(klass)
        except (OSError, TypeError):  # no source file (built at run time): its specs stand for it
            source = klass.__qualname__
        digest.update(source.encode())
    return digest.hexdigest()[:16]


def longest_first(items: Sequence[Any], size: Any) -> list[Any]:
    """Items in order of decreasing ``size`` (ties in their given order): a stage's items are chains of dependent
    teacher requests, so starting the long chains first keeps every concurrency slot busy until the end instead of
    leaving a few long ones running alone (the order is deterministic, so shards and resumes are unaffected)."""
    return sorted(items, key=lambda item: -size(item))


def is_fresh(path: Path, settings: Mapping[str, Any]) -> bool:
    """Whether ``path`` was built with these settings (recorded beside it)."""
    record = path.with_name(path.name + ".settings.json")
    return (
        path.exists()
        and record.exists()
        and json.loads(record.read_text()) == json.loads(json.dumps(settings, default=str))
    )


def record_settings(path: Path, settings: Mapping[str, Any]) -> None:
    write_atomic(path.with_name(path.name + ".settings.json"), json.dumps(settings, indent=1, default=str) + "\n")


def check_writable(out: Path) -> None:
    """Refuse an output folder that cannot be created or written, before any stage runs: a probe folder is made
    in it (or in its nearest existing parent) and removed, so a refused run leaves nothing behind."""
    existing = next(folder for folder in (out, *out.parents) if folder.exists())
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".magnet-probe-", dir=existing))
    except OSError as error:
        raise MagnetError(f"{out}: cannot write there ({error.strerror or error} in {existing})") from None
