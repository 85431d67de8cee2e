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


@pytest.mark.slow
def test_the_synth_report_checks_contamination_when_bfcl_was_allowed(tmp_path, reference):
    """A pool allowed BFCL's classes gets the check in its report (JSON and Markdown), with the same figures as
    ``magnet contamination`` on its SFT dataset; a pool not allowed BFCL's classes runs no such check."""
    import datasets

    import magnet

    small = {"walks_per_function": 1, "limit": 8, "single": 8, "parallel": 0, "multiple": 0, "irrelevance": 0}
    common = {"paths": small, "datasets": {"sft_mixture": "all", "test_size": 0.2}}
    report = magnet.synthesize(pool="bfcl", allow_bfcl=True, out=str(tmp_path / "bfcl"), progress=False, **common)
    found = report["contamination"]
    loaded = datasets.load_from_disk(str(tmp_path / "bfcl" / "datasets" / "sft"))
    rows = [row for split in loaded.values() for row in split]
    assert found["rows"] == len(rows) and found == {
        **contamination(rows, reference).to_dict(),
        "markdown": found["markdown"],
    }
    assert found["matching_paths"] > 0  # BFCL's own classes walk BFCL's own paths
    assert "## contamination" in (tmp_path / "bfcl" / "report.md").read_text()
    from magnet.api import synth_report_checks
    from magnet.synthesis.config import SynthConfig

    assert synth_report_checks(SynthConfig()) == ()  # a pool without BFCL's classes: no check, no section
