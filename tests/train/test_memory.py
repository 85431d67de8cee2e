"""The memory estimate: model states are DeepSpeed's own figures; the rest adds up as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from magnet.cli import main
from magnet.errors import MagnetError
from magnet.train.memory import GIB, KNOWN_MODELS, ModelShape, TrainSetup, estimate

QWEN14 = KNOWN_MODELS["qwen2.5-coder-14b"]


def test_parameter_count_from_a_config_matches_the_model(tiny_model_dir):
    from transformers import AutoConfig, AutoModelForCausalLM

    shape = ModelShape.from_config(AutoConfig.from_pretrained(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert shape.params == sum(p.numel() for p in model.parameters())


def test_zero3_full_fine_tuning_model_states_are_deepspeeds():
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    result = estimate(QWEN14, TrainSetup(gpus=16, zero_stage=3, seq_len=8172))
    _, deepspeed_gpu, _ = estimate_zero3_model_states_mem_needs(
        QWEN14.params, QWEN14.largest_layer, 8, 2, False, False, True
    )
    assert result.model_states == deepspeed_gpu
    assert result.reference_model == 0 and result.total > result.model_states


def test_lora_dpo_and_reference_models():
    full_dpo = estimate(QWEN14, TrainSetup(gpus=16, dpo=True))
    lora_dpo = estimate(QWEN14, TrainSetup(gpus=16, dpo=True, lora_rank=32))
    precomputed = estimate(QWEN14, TrainSetup(gpus=16, dpo=True, precompute_ref=True))
    sft = estimate(QWEN14, TrainSetup(gpus=16))
    assert full_dpo.reference_model == 2 * QWEN14.params // 16 and lora_dpo.reference_model == 0
    assert precomputed.reference_model == 0
    assert lora_dpo.model_states < full_dpo.model_states
    assert full_dpo.logits > sft.logits  # chosen and rejected
    assert 100e6 < QWEN14.lora_params(32) < 200e6
    eager = estimate(QWEN14, TrainSetup(gpus=16, flash_attention=False))
    assert eager.activations > sft.activations
    with pytest.raises(MagnetError, match="zero_stage must be"):
        estimate(QWEN14, TrainSetup(zero_stage=4))


def test_the_lm_head_tile_sizes_are_trls():
    from trl.kernels.chunked_logprob import TOKEN_CHUNK_SIZE
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

    from magnet.train.memory import FUSED_HEAD_TOKENS, FUSED_HEAD_VOCAB

    assert (FUSED_HEAD_TOKENS, FUSED_HEAD_VOCAB) == (TOKEN_CHUNK_SIZE, _CHUNKED_LOGPROB_CHUNK_SIZE)


def test_recipe_and_accelerate_config_give_the_setup(capsys):
    import yaml

    from magnet.train.memory import setup_from_recipe

    root = Path(__file__).resolve().parents[2] / "recipes"
    zero3 = yaml.safe_load((root / "accelerate/zero3.yaml").read_text())
    sft = setup_from_recipe(yaml.safe_load((root / "qwen2.5-coder-14b/sft.yaml").read_text()), zero3)
    assert (sft.zero_stage, sft.lora_rank, sft.dpo, sft.seq_len, sft.gpus) == (3, 0, False, 8172, 8)
    mdpo = setup_from_recipe(yaml.safe_load((root / "qwen2.5-coder-14b/mdpo.yaml").read_text()), zero3)
    assert (mdpo.lora_rank, mdpo.dpo) == (32, True)
    offload = setup_from_recipe({}, yaml.safe_load((root / "accelerate/zero3_offload.yaml").read_text()))
    assert offload.offload_optimizer and offload.offload_params
    recipe, accelerate = str(root / "qwen2.5-coder-14b/sft.yaml"), str(root / "accelerate/zero3.yaml")
    assert main(["estimate-memory", "--recipe", recipe, "--accelerate", accelerate, "--gpus", "16"]) == 0
    out = capsys.readouterr().out
    assert "14.77B parameters; SFT, full; ZeRO-3 on 16 GPUs" in out and "total per GPU" in out


def test_cli_prints_the_table(capsys):
    assert main(["estimate-memory", "--gpus", "16", "--lora-rank", "32", "--dpo", "--seq-len", "8172"]) == 0
    out = capsys.readouterr().out
    assert "LoRA r=32" in out and "total per GPU" in out
    total = float(out.strip().splitlines()[-1].split()[-2])
    assert 5 < total < 80 and total * GIB > 0
