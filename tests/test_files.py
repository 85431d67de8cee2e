"""Atomic writes: a reader sees the old file or the new one, never a part, whatever happens while writing."""

from __future__ import annotations

import json

import pytest

from magnet.errors import MagnetError
from magnet.files import write_atomic, write_jsonl


def test_rows_are_written_as_they_come(tmp_path):
    produced: list[int] = []

    def rows():
        for index in range(3):
            produced.append(index)
            yield {"index": index}

    assert write_jsonl(rows(), tmp_path / "rows.jsonl") == 3
    assert [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()] == [
        {"index": 0},
        {"index": 1},
        {"index": 2},
    ]
    assert produced == [0, 1, 2]


def test_a_failing_producer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "rows.jsonl"
    write_jsonl([{"old": True}], target)

    def broken():
        yield {"new": 1}
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        write_jsonl(broken(), target)
    assert target.read_text() == '{"old": true}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["rows.jsonl"]


def test_an_unwritable_folder_names_the_file(tmp_path):
    target = tmp_path / "missing-folder" / "out.txt"
    with pytest.raises(MagnetError, match=r"missing-folder/out\.txt: cannot write \(No such file or directory\)"):
        write_atomic(target, (chunk for chunk in ("a", "b")))


def test_a_read_error_of_the_producer_is_not_reported_as_a_write_error(tmp_path):
    def rows():
        yield {"a": 1}
        (tmp_path / "missing.jsonl").read_text()  # the source is gone: a read error, raised as it is

    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl"):
        write_jsonl(rows(), tmp_path / "out.jsonl")
    assert not list(tmp_path.iterdir())
