"""Training configs parse like alignment-handbook's: a YAML recipe plus command-line overrides, with TrlParser."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from trl import DPOConfig, SFTConfig, TrlParser

from magnet.errors import MagnetError
from magnet.train.config import MagnetSFTConfig, MDPOConfig, ScriptArguments


def test_yaml_and_overrides(tmp_path):
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(
        "datasets: [runs/synth/datasets/sft]\ntool_format: native\nlearning_rate: 2.0e-5\noutput_dir: runs/sft\n"
        "use_cpu: true\nbf16: false\n"  # TRL's configs default to bf16
    )
    script, config = TrlParser((ScriptArguments, MagnetSFTConfig)).parse_args_and_config(
        ["--config", str(recipe), "--num_train_epochs", "2"]
    )
    assert script.datasets == ["runs/synth/datasets/sft"] and script.tool_format == "native"
    assert config.learning_rate == 2e-5 and config.num_train_epochs == 2 and config.assistant_only_loss
    assert isinstance(config, SFTConfig) and config.max_length == 8172 and config.warmup_steps == 0.1
    assert config.get_warmup_steps(1000) == 100  # the paper's 10% warm-up is what the scheduler gets


def test_mdpo_config_extends_dpo_config(tmp_path):
    _, config = TrlParser((ScriptArguments, MDPOConfig)).parse_args_and_config(
        [
            "--output_dir",
            str(tmp_path),
            "--mdpo_loss",
            "dmpo",
            "--sft_weight",
            "0.5",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
        ]
    )
    assert isinstance(config, DPOConfig) and (config.mdpo_loss, config.sft_weight, config.beta) == ("dmpo", 0.5, 0.1)
    with pytest.raises(MagnetError, match="mdpo_loss must be one of"):
        MDPOConfig(output_dir=str(tmp_path), mdpo_loss="hinge", use_cpu=True, bf16=False)


def test_every_field_has_help_and_bad_arguments_are_named():
    for klass in (ScriptArguments, MagnetSFTConfig, MDPOConfig):
        own = [f for f in dataclasses.fields(klass) if f.name in inspect.get_annotations(klass)]
        assert own and all(f.metadata.get("help") for f in own), klass.__name__
    with pytest.raises(MagnetError, match="tool_format must be one of"):
        ScriptArguments(tool_format="xml")
    with pytest.raises(MagnetError, match="one weight per dataset"):
        ScriptArguments(datasets=["a", "b"], dataset_weights=[1.0])
