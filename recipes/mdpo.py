"""Multi-turn DPO on Magnet's preference pairs (the paper's mDPO stage), from the SFT model.

    accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/mdpo.py \
        --config recipes/qwen2.5-coder-14b/mdpo.yaml [--beta 0.2 --mdpo_loss dmpo ...]

Any field of ScriptArguments, MDPOConfig (trl.DPOConfig) or trl.ModelConfig can be set in the YAML and overridden
on the command line. The reference model is the SFT model (the adapter-disabled base under LoRA). A rerun of the
same command resumes from the last checkpoint.
"""

from __future__ import annotations

import sys

from trl import ModelConfig

from magnet.train.config import MDPOConfig, ScriptArguments
from magnet.train.mdpo import run_mdpo
from magnet.train.recipe_main import run_recipe

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/mdpo.py", (ScriptArguments, MDPOConfig, ModelConfig), run_mdpo))
