"""Supervised fine-tuning on Magnet's trajectories (the paper's SFT stage).

    accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/sft.py \
        --config recipes/qwen2.5-coder-14b/sft.yaml [--learning_rate 2e-5 ...]

Any field of ScriptArguments (datasets, tool format), MagnetSFTConfig (trl.SFTConfig) or trl.ModelConfig can be
set in the YAML and overridden on the command line. A rerun of the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import sys

from trl import ModelConfig

from magnet.train.config import MagnetSFTConfig, ScriptArguments
from magnet.train.recipe_main import run_recipe
from magnet.train.sft import run_sft

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/sft.py", (ScriptArguments, MagnetSFTConfig, ModelConfig), run_sft))
