"""Sharded, resumable stages: complete shards only, a rerun redoes only what is missing, nothing is mixed."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from magnet.errors import MagnetError
from magnet.synthesis.pipeline import (
    Outcome,
    ShardChannel,
    chained_identity,
    index_records,
    index_shard,
    read_manifest,
    read_records,
    run_chained_stage,
    run_stage,
    shard_path,
    stage_identity,
)


async def _square(item: int) -> Outcome:
    if item % 7 == 0:
        return Outcome(rejection={"item": item}, reason="multiple_of_seven")
    return Outcome(record={"item": item, "square": item * item})


def test_a_stage_writes_shards_and_a_manifest(tmp_path):
    report = asyncio.run(run_stage("square", list(range(25)), _square, tmp_path, shard_size=10, progress=False))
    assert (report.accepted, report.rejected, report.shards_done) == (21, 4, 3)
    assert report.reasons == {"multiple_of_seven": 4}
    assert [r["item"] for r in read_records(tmp_path)] == [i for i in range(25) if i % 7]
    assert [r["item"] for r in read_records(tmp_path, "rejected")] == [0, 7, 14, 21]
    manifest = read_manifest(tmp_path)
    assert manifest["complete"] and manifest["totals"]["accepted"] == 21


class Interrupted(BaseException):
    """Stands for Ctrl-C (a BaseException, like KeyboardInterrupt) in the middle of a shard."""


def test_an_interrupted_stage_resumes_where_it_stopped(tmp_path):
    calls: list[int] = []
    interrupt = [True]

    async def flaky(item: int) -> Outcome:
        calls.append(item)
        if item == 15 and interrupt[0]:
            raise Interrupted  # in the middle of the second shard
        return await _square(item)

    with pytest.raises(Interrupted):
        asyncio.run(run_stage("square", list(range(25)), flaky, tmp_path, shard_size=10, progress=False))
    assert list(read_manifest(tmp_path)["shards"]) == ["0"]
    assert not (tmp_path / "accepted-00001.jsonl").exists()
    calls.clear()
    interrupt[0] = False
    report = asyncio.run(run_stage("square", list(range(25)), flaky, tmp_path, shard_size=10, progress=False))
    assert sorted(calls) == list(range(10, 25)) and report.shards_skipped == 1
    fresh = tmp_path / "fresh"
    asyncio.run(run_stage("square", list(range(25)), _square, fresh, shard_size=10, progress=False))
    for name in ("accepted-00000.jsonl", "accepted-00001.jsonl", "accepted-00002.jsonl", "rejected-00002.jsonl"):
        assert (tmp_path / name).read_text() == (fresh / name).read_text()


def test_another_runs_folder_is_refused(tmp_path):
    asyncio.run(
        run_stage("square", list(range(5)), _square, tmp_path, shard_size=10, progress=False, config={"seed": 1})
    )
    with pytest.raises(MagnetError, match=r"made by another run \(config"):
        asyncio.run(
            run_stage("square", list(range(5)), _square, tmp_path, shard_size=10, progress=False, config={"seed": 2})
        )
    with pytest.raises(MagnetError, match=r"no manifest\.json"):
        list(read_records(tmp_path / "nothing"))


@pytest.mark.slow
def test_magnet_translate_killed_mid_run_completes_to_the_same_episodes(tmp_path):
    magnet = [sys.executable, "-m", "magnet.cli"]
    subprocess.run([*magnet, "graph", "build", "--out", str(tmp_path / "g.json")], check=True, capture_output=True)
    subprocess.run(
        [
            *magnet,
            "paths",
            "sample",
            "--graph",
            str(tmp_path / "g.json"),
            "--out",
            str(tmp_path / "p.jsonl"),
            "--n",
            "60",
            "--single",
            "20",
        ],
        check=True,
        capture_output=True,
    )
    args = [
        "translate",
        "--graph",
        str(tmp_path / "g.json"),
        "--paths",
        str(tmp_path / "p.jsonl"),
        "--shard-size",
        "10",
        "--simulation-store",
        str(tmp_path / "sim.sqlite"),
    ]
    subprocess.run([*magnet, *args, "--out", str(tmp_path / "whole")], check=True, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*magnet, *args, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while time.time() < deadline:  # kill it once two shards are done, in the middle of the rest
        if killed.exists() and len(read_manifest(killed).get("shards", {})) >= 2:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    shards_before = len(read_manifest(killed).get("shards", {}))
    assert 0 < shards_before < 14
    listed = {f"accepted-{int(i):05d}.jsonl" for i in read_manifest(killed)["shards"]}
    assert listed <= {p.name for p in killed.glob("accepted-*.jsonl")}  # every listed shard is whole on disk
    subprocess.run([*magnet, *args, "--out", str(killed)], check=True, capture_output=True)
    whole = [json.dumps(r, sort_keys=True) for r in read_records(tmp_path / "whole")]
    resumed = [json.dumps(r, sort_keys=True) for r in read_records(killed)]
    assert resumed == whole and len(whole) > 0
    for path in sorted(Path(killed).glob("accepted-*.jsonl")):
        assert path.read_text() == (tmp_path / "whole" / path.name).read_text()


def test_other_inputs_are_refused_even_with_the_same_count(tmp_path):
    asyncio.run(run_stage("square", [1, 2, 3], _square, tmp_path, progress=False))
    with pytest.raises(MagnetError, match=r"made by another run \(inputs_digest"):
        asyncio.run(run_stage("square", [1, 2, 4], _square, tmp_path, progress=False))


def test_an_item_that_raises_is_rejected_and_the_stage_goes_on(tmp_path):
    async def fragile(item: int) -> Outcome:
        if item == 3:
            raise ValueError("bad item")
        return await _square(item)

    report = asyncio.run(run_stage("square", list(range(6)), fragile, tmp_path, progress=False))
    assert report.reasons["error:ValueError"] == 1 and report.accepted == 5 - 1  # 0 is a multiple of seven
    [rejected] = [r for r in read_records(tmp_path, "rejected") if "error" in r]
    assert rejected["error"] == "ValueError: bad item"


def _describe_square(record: dict) -> dict:
    return {"id": str(record["item"]), "size": record["square"], "kind": "odd" if record["item"] % 2 else "even"}


def test_record_refs_load_each_record_from_its_shard(tmp_path):
    asyncio.run(run_stage("square", list(range(25)), _square, tmp_path, shard_size=10, progress=False))
    refs = index_records(tmp_path, _describe_square)
    assert [ref.load() for ref in refs] == list(read_records(tmp_path))
    assert {ref.kind for ref in refs} == {"odd", "even"} and refs[2].size == 9
    assert len({ref.digest for ref in refs}) == len(refs)
    # The digest is of the record's line: the same record in another run has the same digest.
    again = tmp_path / "again"
    asyncio.run(run_stage("square", list(range(25)), _square, again, shard_size=10, progress=False))
    assert [ref.digest for ref in index_records(again, _describe_square)] == [ref.digest for ref in refs]


def test_a_bad_line_in_a_shard_is_named(tmp_path):
    asyncio.run(run_stage("square", list(range(5)), _square, tmp_path, shard_size=10, progress=False))
    shard = shard_path(tmp_path, 0)
    shard.write_text(shard.read_text() + "{not json\n")
    with pytest.raises(MagnetError, match=r"accepted-00000\.jsonl: line 5: not valid JSON"):
        index_shard(shard, _describe_square)


async def _pipelined(tmp_path: Path, upstream_delay: float, log: list[str]):
    """An upstream stage and a stage chained on it: shard i of the second is made of shard i of the first."""
    channel = ShardChannel()
    upstream_id = stage_identity("square", list(range(40)), 10, {})

    async def slow_square(item: int) -> Outcome:
        await asyncio.sleep(upstream_delay * (item // 10))  # later shards finish later
        log.append(f"square {item}")
        return await _square(item)

    async def upstream() -> None:
        try:
            await run_stage(
                "square", list(range(40)), slow_square, tmp_path / "a", shard_size=10, progress=False,
                on_shard=channel.put,
            )  # fmt: skip
        finally:
            channel.close()

    async def shards():
        async for index in channel:
            yield index, index_shard(shard_path(tmp_path / "a", index), _describe_square)

    async def negate(ref) -> Outcome:
        log.append(f"negate {ref.id}")
        return Outcome(record={"item": -ref.load()["item"]})

    chained = run_chained_stage(
        chained_identity("negate", upstream_id, {}), 4, shards(), negate, tmp_path / "b", progress=False
    )
    _, report = await asyncio.gather(upstream(), chained)
    return report


def test_a_chained_stage_starts_on_each_upstream_shard_as_it_is_written(tmp_path):
    log: list[str] = []
    report = asyncio.run(_pipelined(tmp_path, 0.05, log))
    assert report.complete and report.accepted == 34 and report.inputs == 34
    assert sorted(r["item"] for r in read_records(tmp_path / "b")) == sorted(-i for i in range(40) if i % 7)
    # Items of the first upstream shard were negated before the last upstream shard was done.
    assert log.index("negate 1") < log.index("square 39")


def test_a_chained_shard_made_from_other_upstream_records_is_an_error(tmp_path):
    asyncio.run(_pipelined(tmp_path, 0.0, []))
    shard = shard_path(tmp_path / "a", 2)  # an upstream shard changed under the finished downstream one
    shard.write_text(shard.read_text().replace('"square": 484', '"square": 485'))
    with pytest.raises(MagnetError, match=r"b/accepted-00002\.jsonl: made from other inputs"):
        asyncio.run(_pipelined(tmp_path, 0.0, []))
