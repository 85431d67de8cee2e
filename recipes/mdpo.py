"""Multi-turn DPO on Magnet's preference pairs (the paper's mDPO stage), from the SFT model.

    accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/mdpo.py \
        --config recipes/qwen2.5-coder-14b/mdpo.yaml [--beta 0.2 --mdpo_loss dmpo ...]

Any field of ScriptArguments, MDPOConfig (trl.DPOConfig) or trl.ModelConfig can be set in the YAML and overridden
on the command line. The reference model is the SFT model (the adapter-disabled base under LoRA). A rerun of the
same command resumes from the last checkpoint.
"""

from __future__ import annotations

import logging
import sys

from trl import ModelConfig, TrlParser

from magnet.errors import MagnetError
from magnet.train.config import MDPOConfig, ScriptArguments
from magnet.train.loading import init_cpu_deepspeed, shutdown_distributed
from magnet.train.mdpo import run_mdpo


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    init_cpu_deepspeed()
    parser = TrlParser((ScriptArguments, MDPOConfig, ModelConfig))
    try:
        script_args, training_args, model_args = parser.parse_args_and_config()
        run_mdpo(script_args, training_args, model_args)
    except MagnetError as error:
        print(f"recipes/mdpo.py: {error}", file=sys.stderr)
        return 2
    finally:
        shutdown_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
