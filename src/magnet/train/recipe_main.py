"""The body of the training recipes (``recipes/sft.py``, ``recipes/mdpo.py``): parse ``--config`` and the flags
with ``trl.TrlParser``, run the stage, and turn a ``MagnetError`` (a bad dataset path, a wrong setting) into one
line, printed once per machine by the first process of an ``accelerate launch`` rather than by every process, and
handed to the
launcher as the failure's cause."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from trl import TrlParser

from magnet.errors import MagnetError
from magnet.train.loading import init_cpu_deepspeed, shutdown_distributed


def _tell_the_launcher(message: str) -> None:
    """Under ``accelerate launch`` / ``torchrun``, write the cause where the launcher reads a failed process's
    error (torch elastic's error file): its closing failure report then names this cause instead of "To enable
    traceback see ..."."""
    error_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if error_file and not os.path.exists(error_file):
        with open(error_file, "w", encoding="utf-8") as handle:
            json.dump({"message": message, "timestamp": str(int(time.time()))}, handle)


def run_recipe(name: str, config_classes: Sequence[type], stage: Callable[..., Any]) -> int:
    """Exit status of one recipe run: 0 done, 2 refused with the reason on stderr (from rank 0 only)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    init_cpu_deepspeed()
    parser = TrlParser(tuple(config_classes))
    try:
        stage(*parser.parse_args_and_config())
    except MagnetError as error:
        message = f"{name}: {error}"
        if os.environ.get("LOCAL_RANK", "0") == "0":  # once per machine: a cause seen on one node only shows
            print(message, file=sys.stderr)
        _tell_the_launcher(message)
        return 2
    finally:
        shutdown_distributed()
    return 0
