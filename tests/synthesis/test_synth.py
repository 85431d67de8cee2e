"""``magnet synth`` end to end with the offline backend: datasets that load, validate and train in TRL as they
are; a rerun resumes; a killed run finishes to the same datasets."""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest
import torch

from magnet.data.schema import check_preference_rows, check_sft_rows
from magnet.errors import MagnetError
from magnet.synthesis.config import load_config
from magnet.synthesis.pipeline import read_manifest
from magnet.synthesis.synth import Synth, run_synth

pytestmark = pytest.mark.slow

SMALL = [
    "paths.walks_per_function=1",
    "paths.limit=40",
    "paths.single=40",
    "paths.parallel=10",
    "paths.multiple=10",
    "paths.irrelevance=20",
    "translate.shard_size=20",
    "datasets.sft_mixture=all",
    "datasets.test_size=0.1",
]


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    config = load_config(None, [*SMALL, f"out={out}"])
    report = run_synth(config, progress=False)
    return out, report


def _rows(folder: Path) -> list[dict]:
    loaded = datasets.load_from_disk(str(folder))
    return [row for split in loaded.values() for row in split]


def test_datasets_load_and_validate(synth_run):
    out, report = synth_run
    sft, preference = _rows(out / "datasets" / "sft"), _rows(out / "datasets" / "preference")
    check_sft_rows(sft)
    check_preference_rows(preference)
    assert len(sft) == report["sft"]["rows"] > 50 and len(preference) > 30
    assert set(report["sft"]["kinds"]) == {"multi_turn", "single_turn", "irrelevance"}
    assert (out / "report.md").read_text().startswith("# magnet synth report")
    assert (out / "sft_distributions.png").exists()
    exported = [json.loads(line) for line in (out / "datasets" / "sft_sharegpt.jsonl").read_text().splitlines()]
    assert len(exported) == len(sft)


def test_a_rerun_does_no_work_and_changes_nothing(synth_run):
    out, report = synth_run
    before = {p.name: p.read_text() for p in (out / "episodes").glob("*.jsonl")}
    again = run_synth(load_config(None, [*SMALL, f"out={out}"]), progress=False)
    assert again["usage"]["total"]["requests"] == 0
    assert {p.name: p.read_text() for p in (out / "episodes").glob("*.jsonl")} == before
    assert again["sft"] == report["sft"]


def test_trl_trainers_accept_the_datasets_as_they_are(synth_run, tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    out, _ = synth_run
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    common = dict(
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        max_length=2048,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        seed=0,
    )
    sft = datasets.load_from_disk(str(out / "datasets" / "sft"))["train"].select(range(8))
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
        processing_class=tokenizer,
        train_dataset=sft,
        args=SFTConfig(output_dir=str(tmp_path / "sft"), assistant_only_loss=True, **common),
    )
    trainer.train()
    assert len([h for h in trainer.state.log_history if "loss" in h]) == 2
    preference = datasets.load_from_disk(str(out / "datasets" / "preference"))["train"].select(range(4))
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
        ref_model=None,
        processing_class=tokenizer,
        train_dataset=preference,
        args=DPOConfig(output_dir=str(tmp_path / "dpo"), **common),
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses)  # logged, and no NaN or inf


def test_bad_configs_are_named(tmp_path):
    with pytest.raises(MagnetError, match=r"unknown setting\(s\) \['walks'\]"):
        load_config(None, ["paths.walks=3"])
    with pytest.raises(MagnetError, match="expected key=value"):
        load_config(None, ["paths.single"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("teacher: [1, 2]\n")
    with pytest.raises(MagnetError, match=r"bad.yaml.teacher: expected a mapping"):
        load_config(bad)


def test_killed_synth_finishes_to_the_same_datasets(tmp_path):
    magnet = [sys.executable, "-m", "magnet.cli", "synth"]
    settings = [arg for item in SMALL for arg in ("--set", item)]
    subprocess.run([*magnet, *settings, "--out", str(tmp_path / "whole")], check=True, capture_output=True)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*magnet, *settings, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if (killed / "episodes").exists() and len(read_manifest(killed / "episodes").get("shards", {})) >= 2:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL  # it was killed mid-run, not finished
    assert not (killed / "datasets").exists()
    subprocess.run([*magnet, *settings, "--out", str(killed)], check=True, capture_output=True)
    for name in ("sft", "preference"):
        whole = sorted(json.dumps(row, sort_keys=True) for row in _rows(tmp_path / "whole" / "datasets" / name))
        resumed = sorted(json.dumps(row, sort_keys=True) for row in _rows(killed / "datasets" / name))
        assert resumed == whole and whole


def test_two_machines_with_shard_parts_give_the_same_datasets(synth_run, tmp_path):
    whole, _ = synth_run
    shared = tmp_path / "shared"
    early = run_synth(load_config(None, [*SMALL, f"out={shared}"]), progress=False, part=(1, 2))
    assert "graph.json is built by part 0" in early["incomplete"]
    first = run_synth(load_config(None, [*SMALL, f"out={shared}"]), progress=False, part=(0, 2))
    assert "other parts still have shards to do" in first["incomplete"]
    # The stages are pipelined and shard i of each stage comes from shard i of the one before, so one run of a
    # part does its shards of every stage; part 0 then finds every stage done and writes the datasets.
    second = run_synth(load_config(None, [*SMALL, f"out={shared}"]), progress=False, part=(1, 2))
    assert "part 0 (or a run without --shard) writes the datasets" in second["incomplete"]
    report = run_synth(load_config(None, [*SMALL, f"out={shared}"]), progress=False, part=(0, 2))
    assert "incomplete" not in report
    for name in ("sft", "preference"):
        expected = sorted(json.dumps(r, sort_keys=True) for r in _rows(whole / "datasets" / name))
        assert sorted(json.dumps(r, sort_keys=True) for r in _rows(shared / "datasets" / name)) == expected
    assert report["sft"]["rows"] == len(_rows(whole / "datasets" / "sft"))


KILL_POINTS = [  # (what to wait for, checked on the output folder) in the order a run reaches them
    ("graph.json written", lambda out: (out / "graph.json").exists()),
    ("paths written", lambda out: (out / "paths.jsonl").exists()),
    ("2 episode shards", lambda out: len(list((out / "episodes").glob("accepted-*.jsonl"))) >= 2),
    ("5 episode shards", lambda out: len(list((out / "episodes").glob("accepted-*.jsonl"))) >= 5),
    ("1 positive shard", lambda out: any((out / "positives").glob("accepted-*.jsonl"))),
    ("1 negative shard", lambda out: any((out / "negatives").glob("accepted-*.jsonl"))),
    ("datasets started", lambda out: (out / "datasets").exists()),
]


def _complete_shards(out: Path) -> int:
    """Every shard and manifest parses to the end (a kill may leave temporary files, never a partial shard)."""
    count = 0
    for path in [*out.glob("*/*.jsonl"), *out.glob("*/manifest.json"), *out.glob("*.json")]:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            assert text == "" or text.endswith("\n"), f"{path} ends mid-line"
            for line in text.splitlines():
                json.loads(line)
        else:
            json.loads(text)
        count += 1
    return count


def test_kill_9_at_seven_points_across_stages_loses_nothing(synth_run, tmp_path):
    """``magnet synth`` SIGKILLed at seven points from the graph to the datasets (a seeded random delay after each
    milestone), resumed after each: no shard is ever half-written, and the final datasets equal an uninterrupted
    run's."""
    import random

    whole, _ = synth_run
    magnet = [sys.executable, "-m", "magnet.cli", "synth"]
    settings = [arg for item in SMALL for arg in ("--set", item)]
    out = tmp_path / "killed"
    delays = random.Random(9)
    killed = []
    for name, reached in KILL_POINTS:
        process = subprocess.Popen(
            [*magnet, *settings, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 120
        while time.time() < deadline and process.poll() is None and not reached(out):
            time.sleep(0.005)
        time.sleep(delays.uniform(0, 0.05))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if process.returncode == -signal.SIGKILL:
            killed.append(name)
        assert _complete_shards(out) > 0
    assert len(killed) >= 5, f"only {killed} were killed mid-run"
    subprocess.run([*magnet, *settings, "--out", str(out)], check=True, capture_output=True)
    for name in ("sft", "preference"):
        expected = sorted(json.dumps(row, sort_keys=True) for row in _rows(whole / "datasets" / name))
        assert sorted(json.dumps(row, sort_keys=True) for row in _rows(out / "datasets" / name)) == expected


def _limit_file_size(limit: int):
    """A ``preexec_fn`` for a child that can write no file beyond ``limit`` bytes: a full disk, as the child
    sees it (EFBIG on the write), with SIGXFSZ ignored so the write fails instead of killing the process."""
    import resource

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_a_clear_error_and_the_rerun_finishes(synth_run, tmp_path):
    whole, _ = synth_run
    magnet = [sys.executable, "-m", "magnet.cli", "synth"]
    settings = [arg for item in SMALL for arg in ("--set", item)]
    out = tmp_path / "full"
    failed = subprocess.run(
        [*magnet, *settings, "--out", str(out)], capture_output=True, text=True, preexec_fn=_limit_file_size(500_000)
    )
    assert failed.returncode == 2
    message = failed.stderr.strip().splitlines()[-1]
    assert message.startswith(f"magnet synth: {out}/") and "cannot write (File too large)" in message
    assert (out / "episodes" / "manifest.json").exists(), "the disk filled up later than expected"
    assert _complete_shards(out) > 0 and not list(out.rglob("*.tmp"))
    subprocess.run([*magnet, *settings, "--out", str(out)], check=True, capture_output=True)
    for name in ("sft", "preference"):
        expected = sorted(json.dumps(row, sort_keys=True) for row in _rows(whole / "datasets" / name))
        assert sorted(json.dumps(row, sort_keys=True) for row in _rows(out / "datasets" / name)) == expected


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path):
    target = Path("/sys/magnet-cannot-write-here")  # read-only even for root
    if target.parent.exists() and os.access(target.parent, os.W_OK) and not _cannot_create(target):
        pytest.skip("no read-only location on this machine")
    done = subprocess.run(
        [sys.executable, "-m", "magnet.cli", "synth", *[a for s in SMALL for a in ("--set", s)], "--out", str(target)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert str(target) in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _cannot_create(path: Path) -> bool:
    try:
        path.mkdir()
    except OSError:
        return True
    path.rmdir()
    return False


FAULTS = {"error_500": 0.1, "rate_limit_429": 0.05, "hang": 0.03, "malformed_json": 0.05, "truncated_tool_call": 0.05}


def test_teacher_faults_through_the_whole_synth_lose_no_item(tmp_path):
    """``magnet synth`` against an OpenAI-compatible server (answers recorded from the offline backend, replayed
    over HTTP) that fails 28% of requests (500, 429, hangs past the timeout, broken JSON, cut-off tool calls):
    the run completes and every item of every stage is accepted or rejected with a reason, on disk too."""
    import asyncio

    from magnet.llm.replay import RecordingTeacher, replay_responder
    from magnet.synthesis.synth import Synth
    from magnet.testing.loopback import LoopbackServer

    small = [*SMALL, "paths.limit=20", "paths.single=20", "paths.parallel=5", "paths.multiple=5"]
    recording = Synth(load_config(None, [*small, f"out={tmp_path / 'offline'}"]), progress=False)
    recording.teacher = RecordingTeacher(recording.teacher)
    asyncio.run(recording.run())
    with LoopbackServer(
        replay_responder(recording.teacher.answers), faults=FAULTS, hang_seconds=3, retry_after=0.05, seed=1
    ) as server:
        endpoint = [
            "teacher.kind=openai",
            "teacher.model=replay",
            f"teacher.base_url={server.base_url}",
            "teacher.timeout=1",
            "teacher.max_retries=8",
            "teacher.max_concurrency=32",
        ]
        out = tmp_path / "faulty"
        report = run_synth(load_config(None, [*small, *endpoint, f"out={out}"]), progress=False)
        outcomes = dict(server.outcomes)
    assert all(outcomes.get(kind, 0) > 0 for kind in FAULTS), outcomes
    stages = report["stages"]
    for name, stage in stages.items():
        assert stage["inputs"] == stage["accepted"] + stage["rejected"], name
        assert sum(stage["reasons"].values()) == stage["rejected"], name
        on_disk = {kind: sum(len(p.read_text().splitlines()) for p in (out / name_dir(name)).glob(f"{kind}-*.jsonl"))
                   for kind in ("accepted", "rejected")}  # fmt: skip
        assert on_disk == {"accepted": stage["accepted"], "rejected": stage["rejected"]}, name
    assert stages["positives"]["inputs"] == stages["translate"]["accepted"]
    assert report["sft"]["rows"] > 0 and report["preference"]["rows"] > 0
    usage = report["usage"]["total"]
    assert sum(usage["retries"].values()) > 0
    # a request that failed for good (all retries spent) rejected its item with a reason; none was dropped
    assert sum(usage["failures"].values()) <= sum(stage["rejected"] for stage in stages.values())


def test_a_server_without_a_tool_parser_gets_text_calls_and_the_same_datasets(tmp_path):
    """vLLM started without --enable-auto-tool-choice answers 400 to every request with tools. ``tool_calls: auto``
    finds that out once and puts the tools in the prompt; the answers (the offline backend's, recorded as a model
    without tool support writes them: calls as text) are decoded back into the same calls, so the datasets equal
    those of ``text`` forced, and those of a server with a tool parser answering the same calls natively."""
    import asyncio

    from magnet.llm.replay import RecordingTeacher, replay_responder
    from magnet.synthesis.synth import Synth
    from magnet.testing.loopback import LoopbackServer

    # one request at a time: a prompt asked twice (a turn started over) is replayed in the recorded order
    small = [*SMALL, "paths.limit=12", "paths.single=8", "paths.parallel=4", "paths.multiple=4"]
    small.append("teacher.max_concurrency=1")
    answers = {}
    for wire in ("native", "text"):
        recording = Synth(load_config(None, [*small, f"out={tmp_path / 'offline' / wire}"]), progress=False)
        recording.teacher = RecordingTeacher(recording.teacher, tool_calls=wire)
        asyncio.run(recording.run())
        answers[wire] = recording.teacher.answers
    runs, outcomes = {}, {}
    for mode, parser in (("auto", False), ("text", False), ("native", True)):
        with LoopbackServer(replay_responder(answers["native" if parser else "text"]), tool_parser=parser) as server:
            endpoint = ["teacher.kind=openai", "teacher.model=vllm", f"teacher.base_url={server.base_url}"]
            settings = [*small, *endpoint, f"teacher.tool_calls={mode}", f"out={tmp_path / mode}"]
            runs[mode] = run_synth(load_config(None, settings), progress=False)
            outcomes[mode] = dict(server.outcomes)
    assert outcomes["auto"]["bad_request"] == 1  # auto's probe with tools, once; nothing else was sent with tools
    assert "bad_request" not in outcomes["text"]
    calls = runs["auto"]["models"]["teacher"]["tool_calls"]
    assert calls["setting"] == "auto" and calls["mode"] == "text" and "--enable-auto-tool-choice" in calls["reason"]
    assert "tool calls: text" in (tmp_path / "auto" / "report.md").read_text()
    for kind in ("sft", "preference"):
        loaded = {mode: datasets.load_from_disk(str(tmp_path / mode / "datasets" / kind)) for mode in runs}
        assert loaded["auto"]["train"].num_rows > 0
        for split in ("train", "test"):
            assert loaded["auto"][split].to_list() == loaded["text"][split].to_list(), (kind, split)
            assert loaded["text"][split].to_list() == loaded["native"][split].to_list(), (kind, split)
    assert any(m["tool_calls"] for row in loaded["auto"]["train"] for m in row["chosen"])


def name_dir(stage: str) -> str:
    return {"translate": "episodes"}.get(stage, stage)


def test_a_changed_toolkit_is_not_resumed_as_the_old_one(tmp_path):
    """Episodes depend on the tools' code: a rerun into the same folder with a changed toolkit is refused, never
    silently resumed with the old tools' episodes."""
    from magnet.tools.builtin import BUILTIN_TOOLKITS

    settings = [*SMALL, "paths.limit=4", "paths.single=4", f"out={tmp_path / 'run'}"]
    run_synth(load_config(None, settings), progress=False, toolkits=BUILTIN_TOOLKITS)

    class Calendar(BUILTIN_TOOLKITS[0]):  # same name and specs, other code
        def list_events(self, *args, **kwargs):
            return super().list_events(*args, **kwargs)

    assert Calendar.toolkit_name() == BUILTIN_TOOLKITS[0].toolkit_name()
    changed = [Calendar, *BUILTIN_TOOLKITS[1:]]
    with pytest.raises(MagnetError, match="made by another run"):
        run_synth(load_config(None, settings), progress=False, toolkits=changed)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_refused_run_leaves_the_folder_as_it_was(synth_run, tmp_path):
    """Another config over an existing --out is refused before anything is written: its graph and paths would
    differ, and must not replace the ones the folder's episodes were made from."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(synth_run[0], out)
    before = _snapshot(out)
    with pytest.raises(MagnetError, match="made by another run"):
        run_synth(load_config(None, [*SMALL, "paths.single=7", f"out={out}"]), progress=False)
    assert _snapshot(out) == before


def test_a_refused_config_writes_no_folder(tmp_path, monkeypatch):
    with pytest.raises(MagnetError, match="needs --model"):
        run_synth(load_config(None, ["teacher.kind=openai", f"out={tmp_path / 'never'}"]), progress=False)
    assert not (tmp_path / "never").exists()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    remote = ["teacher.kind=openai", "teacher.model=m", "teacher.base_url=https://api.example.com/v1"]
    with pytest.raises(MagnetError, match="OPENAI_API_KEY is not set"):  # refused by the teacher itself
        run_synth(load_config(None, [*remote, f"out={tmp_path / 'never'}"]), progress=False)
    assert not (tmp_path / "never").exists()  # not even the request cache
    with pytest.raises(MagnetError, match=r"the part must be in 0\.\.-1"):
        run_synth(load_config(None, [f"out={tmp_path / 'never'}"]), progress=False, part=(0, 0))
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_recovery_rows_join_the_sft_dataset_beside_the_mixture(tmp_path, capsys):
    """``negatives.recovery``: the recovery rows are all in the SFT dataset (no paper share drops them), the pairs
    stay as they were, and the report and ``magnet stats`` count them."""
    import magnet
    from magnet.cli import main

    paths = {"walks_per_function": 1, "limit": 40, "single": 10, "parallel": 0, "multiple": 0, "irrelevance": 5}
    report = magnet.synthesize(
        out=str(tmp_path), progress=False, paths=paths, negatives={"recovery": True}, datasets={"test_size": 0}
    )
    assert report["sft"]["kinds"].get("recovery", 0) > 0
    sft = [row for row in _rows(tmp_path / "datasets" / "sft")]
    recovered = [row for row in sft if row["meta"]["kind"] == "recovery"]
    assert len(recovered) == report["sft"]["kinds"]["recovery"]
    assert all(row["id"].endswith("-rec") for row in recovered)
    assert all("recovery" not in row for row in _rows(tmp_path / "datasets" / "preference"))
    assert "| recovery rows (share) |" in (tmp_path / "report.md").read_text()
    assert main(["stats", str(tmp_path / "datasets" / "sft")]) == 0
    assert f"| recovery rows (share) | {len(recovered)} " in capsys.readouterr().out


def test_the_teacher_stages_run_with_the_start_up_heap_frozen(tmp_path):
    """Full collections skip what was alive when the teacher stages began (``magnet.heap``), and the heap is
    handed back when they end."""
    synth = Synth(
        load_config(
            None,
            [
                *SMALL[:1],
                "paths.limit=3",
                "paths.single=2",
                "paths.parallel=1",
                "paths.multiple=1",
                "paths.irrelevance=1",
                f"out={tmp_path}",
            ],
        ),
        progress=False,
    )
    frozen_when_asked: list[int] = []
    teacher = synth.teacher
    original = teacher.complete

    async def complete(*args, **kwargs):
        frozen_when_asked.append(gc.get_freeze_count())
        return await original(*args, **kwargs)

    teacher.complete = complete
    report = asyncio.run(synth.run())
    assert report["stages"]["positives"]["accepted"] > 0
    steps = {step for step in report["usage"]["steps"]}
    assert {"forth_translate", "positive_rollout"} <= steps
    assert frozen_when_asked and min(frozen_when_asked) > 0
    assert gc.get_freeze_count() == 0
