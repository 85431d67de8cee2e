"""The body of the training recipes (``recipes/sft.py``, ``recipes/mdpo.py``): parse ``--config`` and the flags
with ``trl.TrlParser``, run the stage, and turn a ``MagnetError`` (a bad dataset path, a wrong setting) into one
line, printed once by the first process of an ``accelerate launch`` rather than by every process."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from trl import TrlParser

from magnet.errors import MagnetError
from magnet.train.loading import init_cpu_deepspeed, shutdown_distributed


def run_recipe(name: str, config_classes: Sequence[type], stage: Callable[..., Any]) -> int:
    """Exit status of one recipe run: 0 done, 2 refused with the reason on stderr (from rank 0 only)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    init_cpu_deepspeed()
    parser = TrlParser(tuple(config_classes))
    try:
        stage(*parser.parse_args_and_config())
    except MagnetError as error:
        if os.environ.get("RANK", "0") == "0":
            print(f"{name}: {error}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    return 0
