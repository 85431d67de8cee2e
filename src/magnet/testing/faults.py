"""Which fault the loopback server injects into a request: a pure function of (seed, body, occurrence).

Pure so that a run is reproducible under any interleaving of concurrent requests (the choice depends on no arrival
order), and keyed by the occurrence so that a retry of a failed request can succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

FAULT_KINDS = ("error_500", "rate_limit_429", "hang", "malformed_json", "truncated_tool_call")
"""The faults a server can inject, in the order their probability ranges are laid out on [0, 1)."""


def check_faults(faults: Mapping[str, float]) -> dict[str, float]:
    """``faults`` as ``{kind: probability}`` floats, or a ``ValueError`` naming the unknown kind or bad probability."""
    checked = {}
    for kind, probability in faults.items():
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_KINDS)}")
        if not isinstance(probability, int | float) or not 0.0 <= probability <= 1.0:
            raise ValueError(f"fault {kind!r}: probability must be a number in [0, 1], got {probability!r}")
        checked[kind] = float(probability)
    total = sum(checked.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault probabilities sum to {total:g} > 1: {', '.join(f'{k!r}' for k in checked)}")
    return checked


def pick_fault(faults: Mapping[str, float], seed: int, canonical: bytes, occurrence: int) -> str | None:
    """The fault (or None) for the ``occurrence``-th receipt (0 = first) of the body whose ``canonical`` form is
    given: a hash of the three inputs, read as a draw on [0, 1), falls into one kind's range or into none."""
    if not faults:
        return None
    digest = hashlib.sha256(f"{seed}\0{occurrence}\0".encode() + canonical).digest()
    draw = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for kind in FAULT_KINDS:
        edge += faults.get(kind, 0.0)
        if draw < edge:
            return kind
    return None


def canonical(body: Any) -> bytes:
    """A request body's bytes with key order and spacing fixed, so that equal bodies are equal bytes."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
