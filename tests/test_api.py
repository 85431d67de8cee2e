"""The public API: the pipeline from Python, each call the code path of its command."""

from __future__ import annotations

import json

import pytest

import magnet
from magnet.api import _recipe_arguments
from magnet.errors import MagnetError


class Greeter(magnet.Toolkit):
    """Greets people and remembers whom (defined here, not importable by name: what a notebook does)."""

    @classmethod
    def default_state(cls) -> dict:
        return {"greeted": ["Ana Lima"]}

    def say_hello_to(self, name: str) -> dict:
        """Welcome a person warmly by name.

        Args:
            name: The person to welcome.
        """
        self.data["greeted"].append(name)
        return {"greeting": f"hello {name}"}


def test_the_public_names_resolve():
    for name in magnet.__all__:
        assert getattr(magnet, name) is not None, name
    with pytest.raises(AttributeError):
        magnet.no_such_name  # noqa: B018


@pytest.mark.slow
def test_synthesize_with_a_toolkit_class_defined_in_python(tmp_path):
    report = magnet.synthesize(
        out=str(tmp_path / "synth"),
        toolkits=[Greeter, magnet.BUILTIN_TOOLKITS[0]],
        progress=False,
        paths={"walks_per_function": 1, "single": 30, "irrelevance": 5},
    )
    assert report["stages"]["translate"]["accepted"] > 0 and report["sft"]["rows"] > 0
    graph = json.loads((tmp_path / "synth" / "graph.json").read_text())
    assert "say_hello_to" in json.dumps(graph)
    # Every function has an implementation (the class itself), so nothing was simulated by the teacher.
    assert not (tmp_path / "synth" / "simulated.sqlite").exists()
    greeted = [
        json.loads(line)
        for path in (tmp_path / "synth" / "episodes").glob("accepted-*.jsonl")
        for line in path.read_text().splitlines()
        if '"say_hello_to"' in line
    ]
    assert greeted, "no episode called the notebook's toolkit"


def test_synthesize_settings_override_the_config_file(tmp_path):
    from magnet.synthesis.config import load_config

    config_file = tmp_path / "synth.yaml"
    config_file.write_text("paths:\n  single: 5\n  parallel: 2\nteacher:\n  kind: offline\n")
    config = load_config(config_file, values={"paths": {"single": 9}, "out": "x"})
    assert (config.paths.single, config.paths.parallel, config.out) == (9, 2, "x")
    with pytest.raises(
        MagnetError,
        match=r"settings.paths: unknown setting\(s\) \['singles'\] \(did you mean 'single'\?\)",
    ):
        load_config(None, values={"paths": {"singles": 9}})


def test_recipe_overrides_become_the_flags_a_user_would_type():
    arguments = _recipe_arguments(
        "recipes/tiny/sft.yaml", {"datasets": ["a", "b"], "max_steps": 4, "bf16": False, "output_dir": "out"}
    )
    assert arguments == [
        "--config", "recipes/tiny/sft.yaml", "--datasets", "a", "b", "--max_steps", "4", "--bf16", "false",
        "--output_dir", "out",
    ]  # fmt: skip


def test_a_bad_recipe_setting_is_an_exception_not_an_exit():
    with pytest.raises(MagnetError, match="no such recipe file"):
        magnet.train_sft("recipes/tiny/missing.yaml")
    with pytest.raises(MagnetError, match="bad setting"):
        magnet.train_sft("recipes/tiny/sft.yaml", no_such_flag=1)


def test_evaluate_runs_the_harness_checks(tmp_path):
    result = magnet.evaluate("reference", tmp_path / "ref", categories="multi_turn_base", limit=3, progress=False)
    assert result.scores["multi_turn_base"].accuracy == 1.0
    silent = magnet.evaluate("silent", tmp_path / "silent", categories=["irrelevance"], limit=3, progress=False)
    assert silent.scores["irrelevance"].accuracy == 1.0
    with pytest.raises(MagnetError, match="no such model folder"):
        magnet.evaluate(str(tmp_path / "nothing"), tmp_path / "x")


def test_python_settings_merge_sections_and_replace_values(tmp_path):
    from magnet.synthesis.config import load_config

    config_file = tmp_path / "synth.yaml"
    config_file.write_text("datasets:\n  sft_mixture: {multi_turn: 5, single_turn: 7}\n  test_size: 0.1\n")
    config = load_config(config_file, values={"datasets": {"sft_mixture": {"multi_turn": 10}}})
    assert config.datasets.sft_mixture == {"multi_turn": 10}  # replaced whole, as --set replaces it
    assert config.datasets.test_size == 0.1  # the section itself is merged
