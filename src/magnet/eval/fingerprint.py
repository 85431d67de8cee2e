"""What exactly is evaluated, as a fingerprint an evaluation folder records (``run.json``) and a rerun must match.

A runner's name says little: ``hf:mdpo`` is every folder called ``mdpo``, and an endpoint's served-model name can
stay the same while the weights behind it change. A rerun into a folder that holds another model's results would
skip every entry already there and report that model's scores as this one's. So the fingerprint holds:

* a local model: its folder (resolved) and a digest of its configuration files (``config.json``,
  ``generation_config.json``, ``magnet.json``, a PEFT adapter's ``adapter_config.json``, the tokenizer's files)
  and of its weight files: whole when small, else their size, header and first and last mebibyte (the tensors a
  training step changes are in every sample of them; a 28 GB checkpoint is read in milliseconds, not minutes);
* an endpoint: its base URL and served model;
* the generation settings either way (tool format and how calls travel, temperature, token limits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WHOLE_FILE_BYTES = 64 * 2**20
SAMPLE_BYTES = 2**20
CONFIG_FILES = (
    "config.json",
    "generation_config.json",
    "magnet.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def file_digest(path: Path) -> str:
    """sha256 of a file; of its size, first and last ``SAMPLE_BYTES`` when it is over ``WHOLE_FILE_BYTES``."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= WHOLE_FILE_BYTES:
            for block in iter(lambda: handle.read(2**20), b""):
                digest.update(block)
        else:
            digest.update(str(size).encode())
            digest.update(handle.read(SAMPLE_BYTES))
            handle.seek(size - SAMPLE_BYTES)
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def folder_digest(folder: str | Path) -> str:
    """A digest of a model folder's configuration and weight files (names and contents, see the module)."""
    root = Path(folder)
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and (path.name in CONFIG_FILES or path.suffix in WEIGHT_SUFFIXES)
        and "checkpoint-" not in str(path.relative_to(root))  # a training run's checkpoints are not the model
    )
    for path in files:
        digest.update(f"{path.relative_to(root)}\0{file_digest(path)}\n".encode())
    return digest.hexdigest()


def local_fingerprint(folder: str | Path, generation: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of a local model folder (or a hub id, which has no folder here) and its generation."""
    path = Path(folder)
    if path.is_dir():
        return {"model": str(path.resolve()), "digest": folder_digest(path), "generation": dict(generation)}
    return {"model": str(folder), "digest": None, "generation": dict(generation)}


def endpoint_fingerprint(base_url: str, model: str, generation: Mapping[str, Any]) -> dict[str, Any]:
    """The fingerprint of a served model: where, which name, and how it is asked."""
    return {"endpoint": base_url.rstrip("/"), "model": model, "generation": dict(generation)}


def describe(identity: Mapping[str, Any]) -> str:
    """An evaluation's identity in a few words, for the line that refuses a mismatch."""
    fingerprint = identity.get("fingerprint") or {}
    if "endpoint" in fingerprint:
        what = f"{fingerprint['model']} at {fingerprint['endpoint']}"
    elif fingerprint.get("digest"):
        what = f"{fingerprint['model']} (weights {fingerprint['digest'][:12]})"
    else:
        what = str(fingerprint.get("model") or identity.get("runner"))
    generation = fingerprint.get("generation") or {}
    settings = ", ".join(f"{key} {value}" for key, value in sorted(generation.items()))
    episodes = identity.get("episodes")
    on = f"the {episodes['split']} episodes of {episodes['run']}" if episodes else f"BFCL {identity.get('bfcl')}"
    limit = f", step limit {identity['step_limit']}" if "step_limit" in identity else ""
    return f"{what}, {identity.get('tool_format')}, {on}" + (f", {settings}" if settings else "") + limit
