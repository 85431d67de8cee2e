"""The one configuration mechanism (``magnet.settings``): YAML, Python values and flags generated from the settings
dataclasses, checked against the fields, with HF's ``HfArgumentParser`` as the reference for flat settings."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
from transformers import HfArgumentParser

from magnet.cli import build_parser
from magnet.config_reference import _rows
from magnet.errors import MagnetError
from magnet.eval.settings import EvalSettings
from magnet.settings import add_settings_flags, flag_values, load_settings, settings_from_args
from magnet.synthesis.config import SynthConfig, TranslateSettings, load_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _synth_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["synth", *argv])


def test_flags_lie_between_the_yaml_file_and_set_overrides(tmp_path):
    config_file = tmp_path / "synth.yaml"
    config_file.write_text("paths:\n  single: 5\n  parallel: 6\nteacher:\n  model: from-yaml\n")
    args = _synth_args(
        "--config", str(config_file), "--paths.single", "7", "--model", "from-flag", "--set", "paths.parallel=8"
    )
    config = load_config(args.config, args.set, values=flag_values(args), values_where="--")
    assert (config.paths.single, config.paths.parallel, config.teacher.model) == (7, 8, "from-flag")
    assert config.paths.steps == 7  # untouched settings keep their defaults, not argparse's None


def test_every_synth_setting_has_a_flag_and_the_teacher_keeps_the_short_names():
    synth = build_parser()._subparsers._group_actions[0].choices["synth"]
    options = synth._option_string_actions
    missing = [  # a section that defaults to None (negatives.student) has its fields' flags
        key
        for key, _, _ in _rows(SynthConfig)
        if not any(o == f"--{key}" or o.startswith(f"--{key}.") for o in options)
    ]
    assert missing == []
    assert options["--model"].dest == "setting:teacher.model"  # not negatives.student.model
    assert options["--negatives"].dest == "setting:negatives.source"


def test_flag_values_are_read_by_the_field_type():
    args = _synth_args(
        "--teacher.model", "2024-01-01", "--datasets.sft_mixture", "{multi_turn: 10}", "--teacher.price", "[0.5, 2]"
    )
    config = load_config(None, values=flag_values(args))
    assert config.teacher.model == "2024-01-01"  # text stays text (YAML would read a date)
    assert config.datasets.sft_mixture == {"multi_turn": 10}
    assert config.teacher.price == [0.5, 2]


@pytest.mark.parametrize(
    ("argv", "exports", "no_cache"),
    [
        ((), True, False),
        (("--datasets.no-exports", "--teacher.no-cache"), False, True),
        (("--datasets.exports", "false", "--no-cache", "true"), False, True),
        (("--datasets.exports",), True, False),
    ],
)
def test_booleans_take_a_bare_flag_a_value_or_a_no_flag(argv, exports, no_cache):
    config = load_config(None, values=flag_values(_synth_args(*argv)))
    assert (config.datasets.exports, config.teacher.no_cache) == (exports, no_cache)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--teacher.kind", "vllm"), "--teacher.kind: expected one of ['offline', 'openai', 'hf'], got 'vllm'"),
        (("--paths.steps", "many"), "--paths.steps: expected an integer, got 'many'"),
        (("--set", "paths.singel=3"), "--set paths: unknown setting(s) ['singel'] (did you mean 'single'?); known:"),
        (
            ("--set", "teacher.kind=ofline"),
            "--set teacher.kind: expected one of ['offline', 'openai', 'hf'], got 'ofline' (did you mean 'offline'?)",
        ),
    ],
)
def test_a_bad_value_names_its_key_where_it_was_given(argv, message):
    args = _synth_args(*argv)
    with pytest.raises(MagnetError) as error:
        load_config(None, args.set or [], values=flag_values(args), values_where="--")
    assert message in str(error.value)


@pytest.mark.parametrize("path", sorted((RECIPES / "synth").rglob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_synth_configs_load(path):
    assert isinstance(load_config(path), SynthConfig)


@pytest.mark.parametrize(
    ("klass", "argv"),
    [
        (TranslateSettings, ["--max_attempts", "5", "--shard-size", "7"]),
        (TranslateSettings, []),
        (
            EvalSettings,
            ["--runner", "reference", "--limit", "3", "--tool_format", "native", "--overwrite", "--categories", "x,y"],
        ),
        (EvalSettings, ["--model", "m", "--overwrite", "false", "--bfcl-version", "v4", "--concurrency", "2"]),
    ],
)
def test_flat_settings_parse_as_hf_argument_parser_parses_them(klass, argv):
    """HfArgumentParser (the parser of TRL's and alignment-handbook's recipes) is the reference for flat settings."""
    (expected,) = HfArgumentParser(klass).parse_args_into_dataclasses(argv)
    parser = argparse.ArgumentParser()
    add_settings_flags(parser, klass)
    assert settings_from_args(klass, parser.parse_args(argv)) == expected


def test_a_dataclass_check_is_a_settings_error_naming_the_file(tmp_path):
    config_file = tmp_path / "synth.yaml"
    config_file.write_text("paths:\n  p_merge: 1.5\n")
    with pytest.raises(MagnetError, match=r"synth.yaml.paths: p_merge must be a probability in \[0, 1\], got 1.5"):
        load_config(config_file)


def test_settings_dataclasses_declare_help_for_every_field():
    for klass in (SynthConfig, EvalSettings):
        for field in dataclasses.fields(klass):
            assert field.metadata.get("help"), f"{klass.__name__}.{field.name}"


def test_the_shipped_eval_config_loads_with_the_model_from_a_flag():
    args = build_parser().parse_args(
        ["eval", "bfcl", "--config", str(RECIPES / "eval" / "bfcl-v3.yaml"), "--model", "m"]
    )
    settings = load_settings(EvalSettings, args.config, values=flag_values(args))
    assert (settings.model, settings.bfcl_version, settings.category_names()) == ("m", "v3", ["all"])


def test_a_typo_in_the_yaml_file_is_blamed_on_the_file(tmp_path):
    config_file = tmp_path / "synth.yaml"
    config_file.write_text("paths:\n  singel: 5\n")
    args = _synth_args("--config", str(config_file), "--set", "paths.single=3")
    with pytest.raises(
        MagnetError, match=r"synth.yaml.paths: unknown setting\(s\) \['singel'\] \(did you mean 'single'\?\)"
    ):
        load_config(args.config, args.set, values=flag_values(args), values_where="--")


def test_an_emptied_section_keeps_its_defaults_and_set_on_a_section_merges(tmp_path):
    config_file = tmp_path / "synth.yaml"
    config_file.write_text("paths:\n#  single: 5\nteacher:\n  model: m\ntranslate: {shard_size: 9}\n")
    config = load_config(config_file, ["translate={max_attempts: 2}"], values={"paths": {"steps": 3}})
    assert (config.paths.steps, config.paths.single) == (3, None)  # the flag's value over an emptied section
    assert (config.translate.shard_size, config.translate.max_attempts) == (9, 2)  # merged, not replaced


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("teacher.max_concurrency=0", "max_concurrency must be at least 1"),
        ("translate.shard_size=0", "shard_size, max_attempts and turn_attempts must be at least 1"),
        ("paths.single=-3", "single must be at least 0"),
    ],
)
def test_counts_out_of_range_are_settings_errors(override, message):
    with pytest.raises(MagnetError, match=message):
        load_config(None, [override])


ABLATIONS = {
    "init-graph.yaml": {"paths.merge": False, "paths.insert": False, "paths.split": False},
    "merge.yaml": {"paths.insert": False, "paths.split": False},
    "merge-insert.yaml": {"paths.split": False},
    "no-positive-hints.yaml": {"positive_hints": False},
    "sampled-negatives.yaml": {
        "negatives.source": "sampled",
        "negatives.samples": 3,
        "negatives.student.kind": "offline",
    },
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_each_ablation_recipe_is_the_offline_recipe_with_its_switches_only(name):
    """Table 4's rows side by side: an ablation recipe differs from recipes/synth/offline-builtin.yaml in the
    settings it names and nowhere else, so that its datasets compare with the full pipeline's."""

    def flat(value, prefix=""):
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(item, f"{prefix}{key}.").items()}
        return {prefix.rstrip("."): value}

    full = flat(load_config(RECIPES / "synth" / "offline-builtin.yaml").to_dict())
    ablation = flat(load_config(RECIPES / "synth" / "ablations" / name).to_dict())
    changed = {key: value for key, value in ablation.items() if full.get(key) != value}
    expected = ABLATIONS[name]
    assert {key: changed[key] for key in expected} == expected
    extra = {key for key in changed if key not in expected and not key.startswith("negatives.student.")}
    assert not extra, extra
