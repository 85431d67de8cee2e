"""Mixture by counts or shares, exports to LLaMA-Factory and OpenAI formats, and dataset statistics."""

from __future__ import annotations

import json

import pytest

from magnet.data.export import llamafactory_dataset_info, to_openai_finetune, to_sharegpt
from magnet.data.mixture import PAPER_SFT_COUNTS, mix, shares_of
from magnet.data.stats import comparison_table, dataset_stats, error_types, plot_distributions
from magnet.errors import MagnetError

ROW = {
    "id": "r1",
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_event",
                "description": "Get.",
                "parameters": {
                    "type": "object",
                    "properties": {"event_id": {"type": "string"}},
                    "required": ["event_id"],
                },
            },
        }
    ],
    "messages": [
        {"role": "user", "content": "Show evt-1 and evt-2.", "tool_calls": None, "tool_call_id": None, "name": None},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "id": "c0", "function": {"name": "get_event", "arguments": {"event_id": "evt-1"}}},
                {"type": "function", "id": "c1", "function": {"name": "get_event", "arguments": {"event_id": "evt-2"}}},
            ],
            "tool_call_id": None,
            "name": None,
        },
        {"role": "tool", "content": '{"title": "A"}', "tool_calls": None, "tool_call_id": "c0", "name": "get_event"},
        {"role": "tool", "content": '{"title": "B"}', "tool_calls": None, "tool_call_id": "c1", "name": "get_event"},
        {"role": "assistant", "content": "A and B.", "tool_calls": None, "tool_call_id": None, "name": None},
        {"role": "user", "content": "Now remind me.", "tool_calls": None, "tool_call_id": None, "name": None},
        {"role": "assistant", "content": "Done.", "tool_calls": None, "tool_call_id": None, "name": None},
    ],
    "meta": {
        "kind": "multi_turn",
        "ops": ["merge:1", "split:miss_func@1"],
        "missing": {
            "functions": {"1": ["set_reminder"]},
            "tools": {"1": [{"type": "function", "function": {"name": "set_reminder", "parameters": {}}}]},
        },
    },
}


def test_mix_by_shares_counts_or_everything():
    rows = [{"kind": "a"}] * 100 + [{"kind": "b"}] * 10
    kept, report = mix(rows, lambda r: r["kind"], shares={"a": 0.5, "b": 0.5}, seed=1)
    assert report.kept == {"a": 10, "b": 10} and len(kept) == 20
    kept, report = mix(rows, lambda r: r["kind"], counts={"a": 7, "b": 50})
    assert report.kept == {"a": 7, "b": 10}
    kept, report = mix(rows, lambda r: r["kind"])
    assert len(kept) == 110
    assert (
        mix(rows, lambda r: r["kind"], shares={"a": 0.5, "b": 0.5}, seed=1)[0]
        == mix(rows, lambda r: r["kind"], shares={"a": 0.5, "b": 0.5}, seed=1)[0]
    )
    with pytest.raises(MagnetError, match="shares are all zero"):
        mix(rows, lambda r: r["kind"], shares={"a": 0})
    assert round(shares_of(PAPER_SFT_COUNTS)["single_turn"], 3) == 0.588


def test_sharegpt_export_follows_llamafactory_roles():
    exported = to_sharegpt(ROW)
    roles = [turn["from"] for turn in exported["conversations"]]
    assert roles == ["human", "function_call", "observation", "gpt", "human", "gpt", "human", "gpt"]
    calls = json.loads(exported["conversations"][1]["value"])
    assert calls == [
        {"name": "get_event", "arguments": {"event_id": "evt-1"}},
        {"name": "get_event", "arguments": {"event_id": "evt-2"}},
    ]
    assert json.loads(exported["conversations"][2]["value"]) == ['{"title": "A"}', '{"title": "B"}']
    assert "set_reminder" in exported["conversations"][4]["value"]  # functions added mid-conversation
    assert json.loads(exported["tools"])[0]["name"] == "get_event"
    assert llamafactory_dataset_info("x.jsonl")["magnet_sft"]["formatting"] == "sharegpt"


def test_openai_export_has_string_arguments_and_added_tools():
    exported = to_openai_finetune(ROW)
    call = exported["messages"][1]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"event_id": "evt-1"}'
    assert exported["messages"][2] == {
        "role": "tool",
        "content": '{"title": "A"}',
        "tool_call_id": "c0",
        "name": "get_event",
    }
    assert exported["messages"][5]["role"] == "system" and "set_reminder" in exported["messages"][5]["content"]
    assert "name" not in exported["messages"][0]


def test_statistics_and_plots(tmp_path):
    single = {"messages": ROW["messages"][:5], "meta": {"kind": "single_turn", "variant": "parallel"}}
    stats = dataset_stats([ROW, single])
    assert stats["kinds"] == {"multi_turn": 1, "single_turn": 1}
    assert (stats["multi_turn_turns"], stats["multi_turn_calls"], stats["single_turn_calls"]) == (2, 2, 2)
    assert stats["operations_share"] == {"merge": 1.0, "split": 1.0}
    table = comparison_table(
        stats,
        {
            "single_turn": 1,
            "multi_turn": 1,
            "irrelevance": 0,
            "multi_turn_turns": 4.71,
            "multi_turn_calls": 15.13,
            "single_turn_calls": 1.8,
        },
    )
    assert "| turns per multi-turn row | 2 | 4.71 |" in table
    assert error_types([{"meta": {"error_types": ["wrong_summary"]}}]) == {"wrong_summary": 1}
    assert plot_distributions([ROW], tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_a_split_without_any_tool_call_saves(tmp_path):
    from magnet.data.mixture import split
    from magnet.data.schema import sft_dataset

    rows = [
        {
            "id": f"r{i}",
            "tools": [],
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "I cannot."}],
            "meta": {"kind": "irrelevance"},
        }
        for i in range(20)
    ]
    parts = split(sft_dataset(rows), 0.1)
    parts.save_to_disk(str(tmp_path / "d"))
    assert {name: len(part) for name, part in parts.items()} == {"train": 18, "test": 2}


@pytest.mark.parametrize(("size", "test_size"), [(10, 0.05), (57, 0.1), (100, 2), (1000, 0.05), (9, 0.5), (30, 0)])
def test_split_indices_are_the_parts_datasets_train_test_split_makes(size, test_size):
    import datasets

    from magnet.data.mixture import split_indices

    ours = split_indices(size, test_size, seed=3)
    if size < 10 or not test_size:
        assert ours == {"train": list(range(size))}
        return
    theirs = datasets.Dataset.from_dict({"i": list(range(size))}).train_test_split(test_size=test_size, seed=3)
    assert ours == {"train": theirs["train"]["i"], "test": theirs["test"]["i"]}


def test_a_test_part_as_large_as_the_data_is_an_error():
    from magnet.data.mixture import split_indices

    with pytest.raises(MagnetError, match="test_size 20 leaves no train or no test rows out of 20"):
        split_indices(20, 20)


def test_the_distribution_figure_labels_its_axes_and_draws_the_papers_values():
    import matplotlib.pyplot as plt

    from magnet.data.stats import PAPER_TABLE_1, called_functions, distribution_figure

    figure = distribution_figure([ROW], "SFT rows", PAPER_TABLE_1["sft"])
    turns, calls, operations = figure.axes
    assert (turns.get_xlabel(), turns.get_ylabel()) == ("user turns", "multi-turn rows")
    assert [text.get_text() for text in calls.get_legend().get_texts()] == ["ours 2.00", "paper 15.13"]
    assert [tick.get_text() for tick in operations.get_xticklabels()] == ["merge", "split"]  # the fixed order
    plt.close(figure)
    without_operations = {**ROW, "meta": {"kind": "multi_turn"}}  # pairs record no operations: no empty panel
    figure = distribution_figure([without_operations])
    assert len(figure.axes) == 2
    plt.close(figure)
    assert called_functions([ROW]) == {"get_event"}


def test_a_cut_down_kind_keeps_a_row_for_every_function_it_can():
    from magnet.data.mixture import mix

    rows = [("single_turn", (f"f{i % 5}",)) for i in range(50)] + [("multi_turn", ("f0", "f1"))] * 10
    for seed in range(5):
        kept, _ = mix(rows, lambda r: r[0], counts={"single_turn": 5, "multi_turn": 2}, seed=seed, cover=lambda r: r[1])
        assert {name for _, names in kept for name in names} == {"f0", "f1", "f2", "f3", "f4"}
    plain, _ = mix(rows, lambda r: r[0], counts={"single_turn": 5, "multi_turn": 2}, seed=1)
    assert len(plain) == 7  # without cover: the same counts, by the seeded shuffle alone
