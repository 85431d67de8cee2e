"""Supervised fine-tuning on Magnet's trajectories (the paper's SFT stage).

    accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/sft.py \
        --config recipes/qwen2.5-coder-14b/sft.yaml [--learning_rate 2e-5 ...]

Any field of ScriptArguments (datasets, tool format), MagnetSFTConfig (trl.SFTConfig) or trl.ModelConfig can be
set in the YAML and overridden on the command line. A rerun of the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import logging
import sys

from trl import ModelConfig, TrlParser

from magnet.errors import MagnetError
from magnet.train.config import MagnetSFTConfig, ScriptArguments
from magnet.train.loading import init_cpu_deepspeed, shutdown_distributed
from magnet.train.sft import run_sft


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    init_cpu_deepspeed()
    parser = TrlParser((ScriptArguments, MagnetSFTConfig, ModelConfig))
    try:
        script_args, training_args, model_args = parser.parse_args_and_config()
        run_sft(script_args, training_args, model_args)
    except MagnetError as error:
        print(f"recipes/sft.py: {error}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
