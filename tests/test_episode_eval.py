"""``magnet eval episodes``: a model on synthesized episodes it did not train on, scored as BFCL scores a turn."""

from __future__ import annotations

import json

import datasets
import pytest

import magnet
from magnet import episode_eval
from magnet.cli import main
from magnet.episode_eval import SPLIT_LABELS, category_of, evaluate_episodes, held_out
from magnet.errors import MagnetError
from magnet.eval.runners import ReferenceRunner, SilentRunner, local_runner
from magnet.llm.client import Completion

HELD_OUT = ["Calendar"]


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    """A small offline run with one toolkit held out of training."""
    out = tmp_path_factory.mktemp("synth")
    paths = {"walks_per_function": 1, "limit": 60, "single": 40, "parallel": 10, "multiple": 10, "irrelevance": 10}
    magnet.synthesize(
        out=str(out), progress=False, paths=paths, datasets={"test_size": 0.2, "holdout_toolkits": HELD_OUT}
    )
    return out


def test_held_out_toolkits_are_in_no_dataset_and_listed_for_evaluation(synth_run):
    listing = json.loads((synth_run / "datasets" / "held_out.json").read_text())
    assert listing["holdout_toolkits"] == HELD_OUT and listing["holdout"] and listing["test"]
    for name in ("sft", "preference"):
        rows = [row for split in datasets.load_from_disk(str(synth_run / "datasets" / name)).values() for row in split]
        assert rows and not any(
            row["meta"]["episode"] in listing["holdout"] for row in rows if "episode" in row["meta"]
        )
        assert not any("Calendar" in (row["meta"].get("source_toolkits") or []) for row in rows)
    assert all("Calendar" in episode.toolkits for episode in held_out(synth_run, "holdout"))
    test_ids = {episode.id for episode in held_out(synth_run, "test")}
    sft = datasets.load_from_disk(str(synth_run / "datasets" / "sft"))
    preference = datasets.load_from_disk(str(synth_run / "datasets" / "preference"))
    assert test_ids == {row["meta"]["episode"] for row in sft["test"]}
    # nothing trained on a test episode: its pair is in the preference test split too, never in train
    assert not test_ids & {row["meta"]["episode"] for row in preference["train"]}
    assert {row["meta"]["episode"] for row in preference["test"]} <= test_ids


@pytest.mark.parametrize("tool_format", ["bfcl_prompt", "native"])
def test_the_reference_answers_score_every_held_out_episode(synth_run, tmp_path, tool_format):
    """The harness check: the reference calls, rendered, decoded, executed and scored, pass everywhere."""
    for split in ("test", "holdout"):
        result = evaluate_episodes(
            ReferenceRunner(tool_format=tool_format), synth_run, split, tmp_path / split, progress=False
        )
        assert result.summary["accuracy"] == 1.0 and result.summary["episodes"] == len(held_out(synth_run, split))
        assert result.summary["turn_accuracy"] == 1.0
    assert set(result.summary["toolkits"]) >= set(HELD_OUT)


def test_a_model_that_never_calls_scores_only_where_no_call_is_right(synth_run, tmp_path):
    result = evaluate_episodes(SilentRunner(), synth_run, "test", tmp_path, progress=False)
    categories = result.summary["categories"]
    assert categories["irrelevance"]["accuracy"] == 1.0
    assert all(value["accuracy"] == 0.0 for name, value in categories.items() if name != "irrelevance")
    record = json.loads((tmp_path / "results" / "episodes.jsonl").read_text().splitlines()[0])
    assert record["error"] in (None, "made no call")
    # turn accuracy: the right turns over every turn of the split; a model that never calls gets at most the turns
    # where the reference calls nothing, and at least every turn of the irrelevance episodes
    episodes = held_out(synth_run, "test")
    turns = [turn for episode in episodes for turn in episode.turns]
    records = [json.loads(line) for line in (tmp_path / "results" / "episodes.jsonl").read_text().splitlines()]
    right = sum(turn["correct"] for record in records for turn in record["turns"])
    assert result.summary["turn_accuracy"] == round(right / len(turns), 4)
    irrelevance_turns = sum(len(e.turns) for e in episodes if category_of(e) == "irrelevance")
    assert 0 < irrelevance_turns <= right <= sum(not turn.calls or turn.label in SPLIT_LABELS for turn in turns)


class WrongValue(ReferenceRunner):
    """The reference's calls with the first string argument changed: the state or the outputs differ."""

    async def answer(self, request):
        completion = await super().answer(request)
        if not completion.tool_calls and request.step == 0 and request.expected:
            call = request.expected[0]
            key = next((k for k, v in call.arguments.items() if isinstance(v, str)), None)
            if key is not None:
                wrong = type(call)(call.name, {**call.arguments, key: call.arguments[key] + "-x"})
                return Completion(text=f"[{wrong.to_text()}]")
        return completion


def test_a_wrong_value_is_scored_wrong_with_the_reason(synth_run, tmp_path):
    result = evaluate_episodes(WrongValue(), synth_run, "test", tmp_path, progress=False)
    records = [json.loads(line) for line in (tmp_path / "results" / "episodes.jsonl").read_text().splitlines()]
    wrong = [r for r in records if not r["valid"]]
    assert wrong and result.summary["accuracy"] < 1.0
    assert all(r["error"].startswith(("the state after the turn", "a reference output")) for r in wrong)


def test_the_folder_belongs_to_one_evaluation_and_bad_input_is_named(synth_run, tmp_path):
    evaluate_episodes(ReferenceRunner(), synth_run, "test", tmp_path, limit=2, progress=False)
    with pytest.raises(MagnetError, match=r"holds an evaluation of reference, .*, not of silent"):
        evaluate_episodes(SilentRunner(), synth_run, "test", tmp_path, limit=2, progress=False)
    with pytest.raises(MagnetError, match="holds an evaluation"):  # the same runner on another episode set
        evaluate_episodes(ReferenceRunner(), synth_run, "holdout", tmp_path, limit=2, progress=False)
    with pytest.raises(MagnetError, match=r"held_out\.json: not found"):
        held_out(tmp_path, "test")
    with pytest.raises(MagnetError, match="--split 'train'"):
        held_out(synth_run, "train")


class Looping(ReferenceRunner):
    """Repeats the turn's first reference call forever: never the answer that ends a turn."""

    async def answer(self, request):
        if request.expected:
            return Completion(text=f"[{request.expected[0].to_text()}]")
        return await super().answer(request)


def test_a_looping_model_is_force_terminated_at_the_step_limit_it_was_given(synth_run, tmp_path):
    looping = next(e for e in held_out(synth_run, "test") if any(turn.calls for turn in e.turns))
    limit = held_out(synth_run, "test").index(looping) + 1
    result = evaluate_episodes(Looping(), synth_run, "test", tmp_path, limit=limit, step_limit=2, progress=False)
    record = next(r for r in map(json.loads, (tmp_path / "results" / "episodes.jsonl").open()) if r["id"] == looping.id)
    assert record["force_terminated"] and record["error"] == "force-terminated at the step limit (2)"
    assert len(record["turns"][-1]["steps"]) == 3  # two responses with calls are allowed, the third one stops it
    assert result.summary["accuracy"] < 1.0
    with pytest.raises(MagnetError, match="holds an evaluation"):  # the limit changes the scores: another folder
        evaluate_episodes(Looping(), synth_run, "test", tmp_path, limit=limit, step_limit=3, progress=False)
    with pytest.raises(MagnetError, match="step_limit must be at least 1"):
        evaluate_episodes(Looping(), synth_run, "test", tmp_path / "x", step_limit=0, progress=False)


def test_an_episode_whose_scoring_fails_counts_wrong_and_the_summary_still_adds_up(synth_run, tmp_path, monkeypatch):
    broken = held_out(synth_run, "test")[1]
    verdict = episode_eval._turn_verdict

    def failing(turn, *args):
        if turn.query == broken.turns[0].query:
            raise ValueError("a checker fault")
        return verdict(turn, *args)

    monkeypatch.setattr(episode_eval, "_turn_verdict", failing)
    result = evaluate_episodes(ReferenceRunner(), synth_run, "test", tmp_path, limit=3, progress=False)
    record = next(r for r in map(json.loads, (tmp_path / "results" / "episodes.jsonl").open()) if r["id"] == broken.id)
    assert not record["valid"] and record["error"] == "ValueError: a checker fault"
    turns = sum(len(e.turns) for e in held_out(synth_run, "test")[:3])
    assert result.summary["accuracy"] == round(2 / 3, 4)
    assert result.summary["turn_accuracy"] == round((turns - len(broken.turns)) / turns, 4)


def test_the_command_line_prints_the_summary(synth_run, tmp_path, capsys):
    argv = ["eval", "episodes", "--synth", str(synth_run), "--split", "holdout", "--runner", "reference"]
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy: 100.0%" in printed and "| Calendar | 100.0% |" in printed
    assert (tmp_path / "summary.md").read_text() in printed


@pytest.mark.slow
def test_a_local_model_talks_to_the_episodes_environment(synth_run, tmp_path, tiny_model_dir):
    """A real (tiny, untrained) model through the same path a trained one takes: every episode is scored."""
    runner = local_runner(tiny_model_dir, max_new_tokens=8)
    result = evaluate_episodes(runner, synth_run, "test", tmp_path, limit=4, progress=False)
    assert result.summary["episodes"] == 4 and not result.failed
