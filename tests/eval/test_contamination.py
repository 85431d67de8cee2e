"""The contamination check (the paper's Appendix C) against BFCL's own test entries, read from bfcl-eval."""

from __future__ import annotations

import json

import pytest

from magnet.cli import main
from magnet.eval.contamination import bfcl_reference, bigrams, contamination, row_signature_path
from magnet.eval.entries import expected_turn_calls, multi_turn_entries


@pytest.fixture(scope="module")
def reference():
    return bfcl_reference()


def _row_from(entry) -> dict:
    """An SFT row that copies a BFCL multi-turn entry: its user turns and its ground-truth calls."""
    messages = []
    for turn, question in enumerate(entry.question):
        messages += [{"role": m["role"], "content": m["content"]} for m in question if m["role"] == "user"]
        calls = expected_turn_calls(entry, turn)
        messages.append(
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": c.name}} for c in calls]}
        )
    return {"messages": messages, "meta": {"kind": "multi_turn"}}


def test_a_copied_bfcl_entry_is_found_and_an_unrelated_row_is_not(reference):
    entry = multi_turn_entries("multi_turn_base")[0]
    copied = _row_from(entry)
    assert row_signature_path(copied) in reference.paths
    ours = {
        "messages": [
            {"role": "user", "content": "Schedule a design review with Chen on Monday"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "create_event"}}]},
            {"role": "user", "content": "and remind me ten minutes before"},
            {"role": "assistant", "tool_calls": [{"function": {"name": "set_reminder"}}]},
        ]
    }
    report = contamination([copied, ours], reference)
    assert (report.rows, report.matching_paths, report.path_share) == (2, 1, 0.5)
    copied_grams = set().union(*(bigrams(m["content"]) for m in copied["messages"] if m["role"] == "user"))
    assert report.shared_bigrams >= len(copied_grams)  # every 2-gram of the copied queries is BFCL's
    assert report.shared_bigrams < report.query_bigrams  # ours are not all BFCL's


def test_the_command_reads_a_jsonl_dataset(tmp_path, capsys):
    entry = multi_turn_entries("multi_turn_base")[1]
    dataset = tmp_path / "rows.jsonl"
    dataset.write_text(json.dumps(_row_from(entry)) + "\n")
    assert main(["contamination", str(dataset), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["rows"], figures["matching_paths"], figures["bigram_share"]) == (1, 1, 1.0)
