"""Dataset records: rows round-trip through HF Datasets exactly, and invalid rows are named by index and field."""

from __future__ import annotations

import copy

import datasets
import pytest

from magnet.data.schema import (
    PREFERENCE_FEATURES,
    SFT_FEATURES,
    Message,
    PreferenceRow,
    SFTRow,
    ToolCall,
    TrajectoryMeta,
    check_preference_rows,
    check_sft_rows,
    preference_dataset,
    preference_rows,
    sft_dataset,
    sft_rows,
    stream_dataset,
    validate_preference_row,
    validate_sft_row,
)
from magnet.errors import DatasetError


def _tool(tool_name, **properties):
    return {
        "type": "function",
        "function": {
            "name": tool_name,
            "description": f"{tool_name}.",
            "parameters": {
                "type": "object",
                "properties": {key: {"type": kind} for key, kind in properties.items()},
                "required": list(properties),
            },
        },
    }


def _sft_row(index: int) -> SFTRow:
    """Rows whose argument dicts and tool schemas differ, which is what Arrow struct merging breaks."""
    if index % 2 == 0:
        calls = (ToolCall("call_0", "find_contact", {"name": "Maria"}),)
        output = '{"email": "maria@example.com"}'
        tools = (_tool("find_contact", name="string"), _tool("send_email", to="string", subject="string"))
    else:
        calls = (
            ToolCall(
                "call_0",
                "transfer",
                {"from_account_id": "a1", "to_account_id": "a2", "amount": 5.5, "tags": ["rent", "may"]},
            ),
        )
        output = '{"transaction_id": "tx-1"}'
        tools = (_tool("transfer", from_account_id="string", to_account_id="string", amount="number"),)
    messages = (
        Message("system", "You are helpful."),
        Message("user", f"request {index}"),
        Message("assistant", None, calls),
        Message("tool", output, tool_call_id="call_0", name=calls[0].name),
        Message("assistant", "Done."),
    )
    meta = TrajectoryMeta(
        kind="multi_turn",
        path=((calls[0].name,),),
        ops=("merge",) * index,
        turns=1,
        calls=1,
        source_toolkits=("Contacts",),
        teacher="offline",
        missing={"functions": {"2": ["sort"]}} if index == 3 else {},
        extra={"seed": index},
    )
    return SFTRow(id=f"traj-{index}", tools=tools, messages=messages, meta=meta)


def test_sft_rows_round_trip_exactly_through_arrow_and_disk(tmp_path):
    rows = [_sft_row(i) for i in range(4)]
    dataset = sft_dataset(rows)
    assert dataset.features == SFT_FEATURES
    assert [row.to_dict() for row in rows] == list(dataset)  # no None-filled keys from struct merging
    assert sft_rows(dataset) == rows
    dataset.save_to_disk(tmp_path / "sft")
    assert sft_rows(datasets.load_from_disk(tmp_path / "sft")) == rows


def test_arguments_keep_their_own_keys():
    dataset = sft_dataset([_sft_row(0), _sft_row(1)])
    first_call = dataset[0]["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert first_call == {"name": "Maria"}
    assert dataset[1]["tools"][0]["function"]["parameters"]["required"] == [
        "from_account_id",
        "to_account_id",
        "amount",
    ]


def _preference_row() -> PreferenceRow:
    good = _sft_row(0)
    prompt = good.messages[:2]
    chosen = good.messages[2:]
    rejected = (Message("assistant", "I cannot do that."),)
    return PreferenceRow(
        id="pair-0",
        tools=good.tools,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        meta={"negative_turns": [0], "error_types": ["nested_call_missing"]},
    )


def test_preference_rows_round_trip(tmp_path):
    row = _preference_row()
    dataset = preference_dataset([row])
    assert dataset.features == PREFERENCE_FEATURES
    assert preference_rows(dataset) == [row]
    assert dataset[0]["prompt"][-1]["role"] == "user"


def test_valid_rows_have_no_problems():
    assert validate_sft_row(_sft_row(3).to_dict(), 3) == []
    assert validate_preference_row(_preference_row().to_dict()) == []


def _broken(mutate):
    row = _sft_row(0).to_dict()
    mutate(row)
    return row


SFT_BREAKAGES = [
    (lambda r: r.pop("id"), "row 0.id: missing or not a string"),
    (lambda r: r["messages"][1].update(role="human"), "row 0.messages[1].role: 'human' is not one of"),
    (
        lambda r: r["messages"][2]["tool_calls"][0]["function"].update(name="delete_all"),
        "row 0.messages[2].tool_calls[0].function.name: 'delete_all' is not among the row's tools",
    ),
    (
        lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments='{"name": "Maria"}'),
        "row 0.messages[2].tool_calls[0].function.arguments: expected an object (dict), got str",
    ),
    (
        lambda r: r["messages"][3].update(tool_call_id="call_9"),
        "row 0.messages[3].tool_call_id: 'call_9' answers no open tool call",
    ),
    (lambda r: r["messages"].pop(3), "row 0.messages[3]: tool call(s) ['call_0'] of the previous assistant message"),
    (lambda r: r["messages"].pop(), "row 0.messages: the conversation must end with an assistant message"),
    (lambda r: r["messages"][4].update(content=None), "row 0.messages[4]: an assistant message needs content"),
    (lambda r: r["messages"][1].update(content=["a"]), "row 0.messages[1].content: expected a string or null"),
    (
        lambda r: r["tools"][0]["function"]["parameters"]["properties"]["name"].update(type="str"),
        "row 0.tools[0]: function 'find_contact': $.parameters.properties.name.type: 'str' is not a JSON Schema type",
    ),
    (lambda r: r["meta"].update(kind="chitchat"), "row 0.meta.kind: 'chitchat' is not one of"),
    (lambda r: r["meta"].update(turns=-1), "row 0.meta.turns: expected a non-negative integer"),
    (lambda r: r.update(messages=[]), "row 0.messages: empty"),
]


@pytest.mark.parametrize(("mutate", "message"), SFT_BREAKAGES)
def test_invalid_sft_rows_name_row_and_field(mutate, message):
    problems = validate_sft_row(_broken(mutate), 0)
    assert any(message in problem for problem in problems), problems


def test_all_bad_rows_are_reported_together_and_nothing_is_built():
    rows = [_sft_row(0).to_dict(), _broken(lambda r: r.pop("id")), _broken(lambda r: r["meta"].update(kind="x"))]
    rows[2]["id"] = "traj-2"
    with pytest.raises(DatasetError) as caught:
        sft_dataset(rows)
    assert [p.split(":")[0] for p in caught.value.problems] == ["row 1.id", "row 2.meta.kind"]


def test_missing_functions_may_be_called_after_they_are_added():
    row = _sft_row(3).to_dict()
    row["messages"][2]["tool_calls"][0]["function"]["name"] = "sort"
    row["messages"][3]["name"] = "sort"
    assert validate_sft_row(row, 3) == []


def test_invalid_preference_rows_name_row_and_field():
    row = _preference_row().to_dict()
    broken = copy.deepcopy(row)
    broken["rejected"] = copy.deepcopy(broken["chosen"])
    assert "row 0: chosen and rejected are identical" in validate_preference_row(broken)
    broken = copy.deepcopy(row)
    broken["prompt"] = broken["prompt"][:1]
    assert any("row 0.prompt: must end with a user or tool message" in p for p in validate_preference_row(broken))
    broken = copy.deepcopy(row)
    broken["chosen"] = broken["chosen"][:1]
    assert any("row 0.chosen: tool call(s) ['call_0'] are never answered" in p for p in validate_preference_row(broken))
    broken = copy.deepcopy(row)
    broken["rejected"][0]["role"] = "user"
    with pytest.raises(DatasetError, match=r"row 0.rejected\[0\]: must be an assistant message"):
        check_preference_rows([broken])


def test_not_a_row_at_all():
    with pytest.raises(DatasetError, match="row 1: expected an object, got list"):
        check_sft_rows([_sft_row(0).to_dict(), []])


def test_empty_datasets_keep_their_columns(tmp_path):
    empty = sft_dataset([])
    assert len(empty) == 0 and empty.features == SFT_FEATURES
    empty.save_to_disk(tmp_path / "empty")
    assert len(preference_dataset([])) == 0


def test_a_streamed_dataset_equals_the_built_one_and_reads_its_rows_once(tmp_path):
    rows = [_sft_row(index).to_dict() for index in range(7)]
    read: list[int] = []

    def one_at_a_time():
        for index, row in enumerate(rows):
            read.append(index)
            yield row

    streamed = stream_dataset(one_at_a_time(), "sft", tmp_path / "cache")
    assert read == list(range(7))
    assert streamed.features == SFT_FEATURES and list(streamed) == list(sft_dataset(rows))
    pairs = stream_dataset(iter([_preference_row().to_dict()]), "preference", tmp_path / "pairs")
    assert list(pairs) == list(preference_dataset([_preference_row()]))
    assert len(stream_dataset(iter([]), "sft", tmp_path / "none")) == 0


def test_a_streamed_dataset_names_every_bad_row(tmp_path):
    rows = [_sft_row(0).to_dict(), _broken(lambda r: r.pop("id")), _sft_row(2).to_dict(), []]
    with pytest.raises(DatasetError) as caught:
        stream_dataset(iter(rows), "sft", tmp_path / "cache")
    assert [p.split(":")[0] for p in caught.value.problems] == ["row 1.id", "row 3"]
    with pytest.raises(DatasetError, match="row 0"):  # only bad rows: nothing to write, still the error
        stream_dataset(iter([[]]), "sft", tmp_path / "only-bad")
