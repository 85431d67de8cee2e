"""The request cache and usage accounting."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from magnet.errors import MagnetError
from magnet.llm.cache import RequestCache, file_system_type, request_key
from magnet.llm.usage import Price, UsageTracker


def test_request_key_ignores_dict_order_but_not_values():
    messages = [{"role": "user", "content": "hi"}]
    key = request_key("m", messages, None, {"temperature": 0.0, "seed": 1})
    assert key == request_key("m", [{"content": "hi", "role": "user"}], [], {"seed": 1, "temperature": 0.0})
    assert key != request_key("m", messages, None, {"temperature": 0.0, "seed": 2})
    assert key != request_key("other", messages, None, {"temperature": 0.0, "seed": 1})


def test_answers_persist_and_are_counted(tmp_path):
    path = tmp_path / "c.sqlite"
    with RequestCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", {"text": "é"}, model="m", step="s")
        assert cache.get("k") == {"text": "é"}
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (1, 1, 1)
    with RequestCache(path) as reopened:
        assert len(reopened) == 1 and reopened.counts_by_step() == {"s": 1}


def _write_many(path: str, offset: int) -> None:
    cache = RequestCache(path)
    for index in range(200):
        cache.put(f"key-{offset + index}", {"n": offset + index}, model="m", step="s")
    cache.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    RequestCache(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(path, offset)) for offset in (0, 1000, 2000)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with RequestCache(path) as cache:
        assert len(cache) == 600 and cache.get("key-2199") == {"n": 2199}


def test_a_corrupt_cache_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(MagnetError, match=r"not a usable request cache .* pass --no-cache"):
        RequestCache(path).get("k")


def test_usage_adds_up_per_step_with_cost(tmp_path):
    usage = UsageTracker(prices={"m": Price(prompt_per_million=2.0, completion_per_million=8.0)})
    usage.record_request("judge")
    usage.record_retry("judge", "timeout")
    usage.record_request("judge")
    usage.record_answer("judge", "m", 1_000_000, 500_000, 1.5)
    usage.record_cache_hit("translate")
    usage.record_request("translate")
    usage.record_failure("translate", "rate_limit")
    total = usage.total()
    assert (total.requests, total.answered, total.cache_hits) == (3, 1, 1)
    assert total.cost == pytest.approx(6.0)
    assert dict(total.failures) == {"rate_limit": 1} and dict(total.retries) == {"timeout": 1}
    usage.save(tmp_path / "usage.json")
    saved = json.loads((tmp_path / "usage.json").read_text())
    assert saved["steps"]["judge"]["cost"] == 6.0 and saved["total"]["requests"] == 3
    table = usage.format_table()
    assert "rate_limit=1" in table and table.splitlines()[-1].startswith("total")


MOUNTS = """\
/dev/vda1 / ext4 rw,relatime 0 0
server:/export /shared nfs4 rw,relatime,vers=4.2 0 0
/dev/vdb1 /shared/local\\040disk xfs rw 0 0
"""


def test_the_file_system_of_a_path_is_its_longest_mount_point():
    assert file_system_type("/home/user/runs", MOUNTS) == "ext4"
    assert file_system_type("/shared/runs/synth", MOUNTS) == "nfs4"
    assert file_system_type("/shared/local disk/runs", MOUNTS) == "xfs"  # /proc/mounts writes a space as \\040
    assert file_system_type("/sharedness", MOUNTS) == "ext4"  # a prefix of the name is not a mount point


def test_a_cache_on_a_network_file_system_keeps_a_rollback_journal(tmp_path, monkeypatch):
    assert RequestCache(tmp_path / "local.sqlite")._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    monkeypatch.setattr("magnet.llm.cache.file_system_type", lambda path, mounts=None: "nfs4")
    shared = RequestCache(tmp_path / "shared.sqlite")
    assert shared._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    shared.put("k", {"text": "answer"}, model="m", step="s")
    assert RequestCache(tmp_path / "shared.sqlite").get("k") == {"text": "answer"}
