"""``magnet synth --executor ray`` against one process, on this machine: the same config (the offline teacher, the
builtin pool) run once in one process and once as Ray tasks on a local Ray cluster, each into a fresh folder.
Prints wall times and the fingerprint of every dataset (a digest of its sorted rows): equal fingerprints mean
the same datasets. With the offline teacher each part is CPU-bound, so on 2 cores two tasks can at best halve the
teacher stages, while the Ray cluster's start and the driver's graph, paths and datasets stay serial. Prints
figures; never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import datasets

from magnet.synthesis.config import load_config
from magnet.synthesis.ray_executor import run_synth_on_ray
from magnet.synthesis.synth import run_synth

SETTINGS = ["paths.walks_per_function=2", "paths.limit=600", "translate.shard_size=50"]


def fingerprint(folder: Path) -> str:
    """A digest of a saved DatasetDict's rows, in sorted order (splits and row order aside)."""
    loaded = datasets.load_from_disk(str(folder))
    rows = sorted(json.dumps(row, sort_keys=True) for split in loaded.values() for row in split)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="magnet-ray-bench-") as work:
        for executor in ("one process", "ray"):
            out = Path(work) / executor.replace(" ", "-")
            config = load_config(None, [*SETTINGS, f"out={out}"])
            started = time.perf_counter()
            if executor == "ray":
                report = run_synth_on_ray(config, tasks=args.tasks, progress=False, ray_init={"num_cpus": args.tasks})
            else:
                report = run_synth(config, progress=False)
            seconds = time.perf_counter() - started
            prints = {name: fingerprint(out / "datasets" / name) for name in ("sft", "preference")}
            requests = report["usage"]["total"]["requests"]
            rows.append((executor, seconds, report["sft"]["rows"], requests, prints["sft"], prints["preference"]))
    print(f"config: the builtin pool, offline teacher, {' '.join(SETTINGS)}; Ray: {args.tasks} tasks, local cluster")
    print(f"{'executor':<12} {'wall (s)':>9} {'SFT rows':>9} {'requests':>9}  sft fingerprint   preference fingerprint")
    for executor, seconds, sft_rows, requests, sft, preference in rows:
        print(f"{executor:<12} {seconds:>9.1f} {sft_rows:>9} {requests:>9}  {sft}  {preference}")
    same = rows[0][4:] == rows[1][4:]
    print(f"same datasets: {same}; ray / one process wall time: {rows[1][1] / rows[0][1]:.2f}")


if __name__ == "__main__":
    main()
