"""Peak memory of ``magnet synth`` (offline backend) at 1k and 10k episodes: the stages stream shards, so peak
memory must not grow in proportion to the run (target: 10k at most 1.5x the 1k peak).

Each run is its own process (peak RSS from ``getrusage``), from the pool to the HF datasets. Episodes are
single-turn and parallel paths plus a fixed set of multi-turn walks, so that 10k episodes take minutes, not an
hour, on 2 cores; what is measured (what a stage holds while it runs) is the same for every kind. Prints figures
and the ratio; never part of the tests' pass/fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZES = (1_500, 19_000)  # paths that give about 1k and 10k episodes (half are rejected, as translation does)
CHILD = """
import json, resource, sys
from magnet.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run(size: int, folder: Path) -> dict:
    settings = [
        "paths.walks_per_function=1",
        "paths.limit=100",
        f"paths.single={size * 3 // 4}",
        f"paths.parallel={size // 4}",
        "translate.shard_size=200",
        "negatives.source=perturb",
    ]
    argv = ["synth", "--out", str(folder / f"synth-{size}"), *[a for s in settings for a in ("--set", s)]]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    report = json.loads((folder / f"synth-{size}" / "report.json").read_text())
    episodes = report["stages"]["translate"]["accepted"]
    return {**result, "seconds": seconds, "episodes": episodes, "sft_rows": report["sft"]["rows"]}


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        results = {size: run(size, Path(name)) for size in SIZES}
    print("paths   episodes  sft rows  seconds  peak RSS (MiB)")
    for size, result in results.items():
        print(
            f"{size + 100:6d}  {result['episodes']:8d}  {result['sft_rows']:8d}  {result['seconds']:7.1f}  "
            f"{result['peak_kib'] / 1024:14.1f}"
        )
    small, large = (results[size] for size in SIZES)
    print(
        f"peak memory ratio at {large['episodes']:,} / {small['episodes']:,} episodes: "
        f"{large['peak_kib'] / small['peak_kib']:.2f} (target <= 1.5) for "
        f"{large['episodes'] / small['episodes']:.1f}x the episodes"
    )


if __name__ == "__main__":
    main()
