"""``magnet synth --executor ray``: a run's sharded stages as Ray tasks, on a Ray cluster.

The same machinery as ``--shard i/n`` over a shared folder, with Ray starting the parts: the driver builds the
graph and the paths (what every part shares) and writes them; then ``n`` Ray tasks each run part ``i/n`` of the
translate, positives and negatives stages (shards whose index is ``i`` modulo ``n``, pipelined as in one process,
each part with its own manifest); when all are done the driver runs the whole config once more, which finds every
shard done and writes the datasets. So the shards, the manifests and the datasets are those of a one-process run,
and a killed or failed run resumes the same way: rerun the command.

The output folder, the pool's files and the teacher's key must be reachable from every node at the same paths and
under the same environment variable (shared storage, as for Slurm): the key is never sent through Ray. Relative
paths (the output, caches, pool files, ``file.py:Class`` toolkits, a local model folder) are made absolute as the
driver sees them, and a task imports ``package.module:Class`` toolkits from the driver's folder too. The tasks
share the teacher's ``max_concurrency`` (each takes its share), so the endpoint sees the rate one process would
give it. The stage folders and the SQLite caches are written by several processes: on a network file system, one
that honours file locks (NFSv4, Lustre), where the caches keep a rollback journal (``magnet.llm.cache``: WAL needs
every writer on one machine). A local Ray cluster (no ``RAY_ADDRESS``) is started for the run and stopped after
it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from magnet.errors import MagnetError
from magnet.llm.settings import TeacherSettings
from magnet.llm.usage import UsageTracker
from magnet.run_async import run_sync
from magnet.synthesis.config import SynthConfig
from magnet.synthesis.synth import Synth
from magnet.tools.mcp_entry import is_mcp_entry, parse_mcp_entry
from magnet.tools.pool import pool_entries
from magnet.tools.toolkit import Toolkit

RAY_EXTRA = "pip install 'magnet-tooluse[ray]'"
logger = logging.getLogger(__name__)


def _absolute_entry(entry: str) -> str:
    if is_mcp_entry(entry):
        return parse_mcp_entry(entry).to_entry()  # a relative seed and scripts resolved as the driver sees them
    path = Path(entry)
    if path.exists():
        return str(path.resolve())
    module, colon, name = entry.rpartition(":")
    if colon and module.endswith(".py") and Path(module).is_file():  # path/to/file.py:ClassName
        return f"{Path(module).resolve()}:{name}"
    return entry


def _absolute_model(settings: TeacherSettings | None) -> TeacherSettings | None:
    """The settings with a local cache and a local model folder (kind hf) as absolute paths."""
    if settings is None:
        return None
    if settings.cache:
        settings = dataclasses.replace(settings, cache=str(Path(settings.cache).resolve()))
    if settings.kind == "hf" and settings.model and Path(settings.model).exists():
        settings = dataclasses.replace(settings, model=str(Path(settings.model).resolve()))
    return settings


def with_absolute_paths(config: SynthConfig) -> SynthConfig:
    """``config`` with its output folder, caches, pool files, ``file.py:Class`` toolkits and local model folders as
    absolute paths, as the driver sees them: a Ray worker starts in a folder of its own."""
    entries = pool_entries(config.pool)
    absolute = [_absolute_entry(entry) for entry in entries]
    pool = config.pool if absolute == entries else absolute  # unchanged, it is recorded as it was given
    negatives = dataclasses.replace(config.negatives, student=_absolute_model(config.negatives.student))
    return dataclasses.replace(
        config,
        out=str(Path(config.out).resolve()),
        pool=pool,
        teacher=_absolute_model(config.teacher),
        negatives=negatives,
    )


def run_part(
    config: SynthConfig,
    part: tuple[int, int],
    toolkits: Sequence[type[Toolkit]],
    *,
    concurrency: int | None = None,
    driver_folder: str | None = None,
) -> UsageTracker:
    """One Ray task: part ``i/n`` of every sharded stage (never the datasets), with ``concurrency`` requests in
    flight; returns what it asked of the teacher. A part that could not do its shards (the graph not there, a
    stage that failed) is an error, not a silent success."""
    if driver_folder and driver_folder not in sys.path:
        sys.path.append(driver_folder)  # package.module:Class toolkits importable where the driver ran
    synth = Synth(config, progress=False, part=part, toolkits=toolkits, concurrency=concurrency)
    report = run_sync(synth.run(datasets=False))
    if not report.get("part_done"):
        raise MagnetError(f"part {part[0]}/{part[1]} stopped before its shards were done: {report.get('incomplete')}")
    return synth.usage


def _ray():
    try:
        import ray
    except ImportError:
        raise MagnetError(f"--executor ray needs Ray: {RAY_EXTRA}") from None
    return ray


def run_synth_on_ray(
    config: SynthConfig,
    *,
    tasks: int | None = None,
    progress: bool = True,
    toolkits: Sequence[type[Toolkit]] = (),
    report_checks: Sequence[Callable[[Path], Mapping[str, Any]]] = (),
    ray_init: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``config`` with its sharded stages as ``tasks`` Ray tasks (default: the cluster's CPUs); returns the
    report a one-process run returns, with the teacher usage of every task added.

    The cluster is ``RAY_ADDRESS`` (or one ``ray.init`` was already called for); else a local one is started with
    ``ray_init`` (e.g. ``{"num_cpus": 2}``) and stopped at the end. A task that fails is named with its error
    after the others finish; the shards every task wrote are kept for the rerun.
    """
    ray = _ray()
    config = with_absolute_paths(config)
    if tasks is not None and tasks < 1:
        raise MagnetError(f"--ray-tasks must be at least 1, got {tasks}")
    if live := [klass.toolkit_name() for klass in toolkits if hasattr(klass, "mcp_server")]:
        raise MagnetError(
            f"MCP toolkit classes {live} cannot be sent to Ray tasks (they hold live servers): name their servers "
            "in the config's pool (mcp:... entries) and each task starts its own"
        )
    for role, settings in (("teacher", config.teacher), ("negatives.student", config.negatives.student)):
        if settings is not None and settings.kind == "hf":
            logger.warning(
                "%s is kind hf: every Ray task loads %s itself (one CPU each); serve it once (vLLM) and use kind "
                "openai to share it",
                role,
                settings.model,
            )
    # The graph and the paths first, here: every part reads them, and only one process may write them.
    planner = Synth(config, progress=progress, toolkits=toolkits)
    run_sync(planner.plan())
    started_here = not ray.is_initialized()
    if started_here:
        options = dict(ray_init or {})
        if os.environ.get("RAY_ADDRESS"):
            options = {key: value for key, value in options.items() if key not in ("num_cpus", "num_gpus")}
        ray.init(**{"log_to_driver": False, "include_dashboard": False, **options})
    try:
        count = tasks or max(1, int(ray.cluster_resources().get("CPU", 1)))
        task = ray.remote(num_cpus=1, max_retries=0)(run_part)
        share = math.ceil(config.teacher.max_concurrency / count)
        refs = {
            task.remote(config, (index, count), tuple(toolkits), concurrency=share, driver_folder=os.getcwd()): index
            for index in range(count)
        }
        usages, failures = [], {}
        pending = list(refs)
        try:
            with tqdm(total=count, desc=f"ray tasks ({count} parts)", unit="part", disable=not progress) as bar:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for ref in done:
                        try:
                            usages.append(ray.get(ref))
                        except Exception as error:  # a task's failure is reported with the others', below
                            failures[refs[ref]] = getattr(error, "cause", None) or error
                        bar.update()
        finally:
            for ref in pending:  # interrupted: the tasks stop too (their finished shards stay for the rerun)
                ray.cancel(ref, force=True)
    finally:
        if started_here:
            ray.shutdown()
    if failures:
        named = "; ".join(f"part {index}/{count}: {type(error).__name__}: {error}" for index, error in failures.items())
        raise MagnetError(
            f"{len(failures)} of {count} Ray tasks failed ({named}); the shards written are kept: rerun the same "
            "command to resume"
        )
    synth = Synth(config, progress=progress, toolkits=toolkits, report_checks=report_checks)
    for usage in [planner.usage, *usages]:  # the graph's judge, then every task's requests
        synth.usage.merge(usage)
    report = run_sync(synth.run())
    report["executor"] = {"kind": "ray", "tasks": count}
    return report
