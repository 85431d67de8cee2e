"""``magnet.json``: what a model folder records about how Magnet trained it (the tool format above all).

A data contract between training, which writes it beside the weights, and whoever later talks to the model (the
evaluation, the synthesis student), which must render prompts the way the model was trained to read them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magnet.errors import DatasetError

TRAINING_RECORD = "magnet.json"


def read_training_record(model_dir: str | Path) -> dict[str, Any]:
    """What training recorded about the model in ``model_dir`` ({} for a folder without a record: a model Magnet
    did not train, or a name that is not a local folder)."""
    path = Path(model_dir) / TRAINING_RECORD
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not a readable training record ({error}); remove it or rewrite it") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(record).__name__}")
    return record


def recorded_tool_format(model_dir: str | Path) -> str | None:
    """The tool format the model in ``model_dir`` was trained in, or None when nothing records it."""
    value = read_training_record(model_dir).get("tool_format")
    return value if isinstance(value, str) else None
