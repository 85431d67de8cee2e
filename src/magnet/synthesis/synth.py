"""``magnet synth``: the whole synthesis, from a function pool to HF Datasets, as resumable stages.

graph -> paths (walks + Merge/Insert/Split, single-turn and irrelevance) -> translate -> positives (hinted
distillation) -> negatives (perturb or student) -> datasets (mixture, train/test, exports, statistics, plots).
Each stage writes its output under ``out``; the sharded ones (translate, positives, negatives) keep manifests, so a
rerun skips finished shards and redoes unfinished ones, and the graph and paths are rebuilt only when their
settings change. The configuration (``magnet.synthesis.config``) is a YAML file with command-line overrides
(``--set paths.single=100``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from magnet.data.schema import SFTRow, validate_preference_row
from magnet.errors import MagnetError
from magnet.files import write_jsonl
from magnet.heap import frozen_heap
from magnet.llm.client import Teacher
from magnet.llm.usage import UsageTracker
from magnet.run_async import run_sync
from magnet.synthesis.config import SynthConfig
from magnet.synthesis.config import load_config as load_config  # re-exported: where earlier versions had it
from magnet.synthesis.datasets_stage import build_datasets, datasets_progress, describe_positive
from magnet.synthesis.distill import Rollout, distill
from magnet.synthesis.episode import Episode, describe_episode
from magnet.synthesis.graph import FunctionGraph, build_graph
from magnet.synthesis.negatives import NegativeItem, perturb_negative, sampled_negative, student_negative
from magnet.synthesis.paths import SignaturePath, read_paths
from magnet.synthesis.pipeline import (
    Outcome,
    RecordRef,
    ShardChannel,
    StageReport,
    chained_identity,
    check_stage_folder,
    index_shard,
    run_chained_stage,
    shard_path,
    stage_identity,
)
from magnet.synthesis.recovery import RECOVERY_KEY, recovery_row
from magnet.synthesis.report import (
    functions_without_rows,
    insert_summary,
    models_report,
    stage_summaries,
    write_report,
)
from magnet.synthesis.simulate import Simulator
from magnet.synthesis.stage_records import (
    check_writable,
    is_fresh,
    longest_first,
    pool_digest,
    record_settings,
    specs_digest,
)
from magnet.synthesis.stages import (  # synthesis_teacher re-exported: it was defined here
    graph_config,
    graph_judge,
    make_student,
    make_translator,
    sample_signature_paths,
    synthesis_teacher,
    translate_paths,
)
from magnet.synthesis.translate import registry_and_simulator
from magnet.tools.pool import pool_specs, pool_toolkits, url_mcp_servers
from magnet.tools.toolkit import Toolkit


class StageIncomplete(Exception):
    """A sharded stage is not finished: other parts (``--shard i/n``) still have shards to do. ``part_done``: this
    part did all it could (what a Ray task must end with); else it could not start (no graph yet, a failure)."""

    def __init__(self, message: str, *, part_done: bool = False):
        super().__init__(message)
        self.part_done = part_done


class Synth:
    """One synthesis run: its config, teacher, usage, and the report of every stage.

    With ``part=(i, n)`` this process does the i-th of n parts of each sharded stage (machines sharing ``out``)
    and stops at the first stage the other parts have not finished; rerun it (or run without ``part``) to go on.
    """

    def __init__(
        self,
        config: SynthConfig,
        *,
        progress: bool = True,
        part: tuple[int, int] | None = None,
        toolkits: Sequence[type[Toolkit]] = (),
        report_checks: Sequence[Callable[[Path], Mapping[str, Any]]] = (),
        concurrency: int | None = None,
    ):
        if part is not None and not 0 <= part[0] < part[1]:
            raise MagnetError(f"part {part[0]}/{part[1]}: the part must be in 0..{part[1] - 1}")
        if part is not None and part[1] > 1 and (shared := url_mcp_servers(config.pool, toolkits)):
            raise MagnetError(
                f"MCP server(s) {shared} are reached by URL: one server's state cannot serve the episodes of "
                f"{part[1]} parts at once; run without --shard/--executor ray, or give each part its own server"
            )
        self.part = part
        self.config = config
        # Requests in flight to the teacher from this process (a Ray task takes its share of the setting's); not
        # part of any stage's identity, so every share resumes the same shards.
        self.concurrency = concurrency or config.teacher.max_concurrency
        # Toolkit classes given in Python (a notebook's own class) are the pool; else the config's pool names them.
        self.toolkits = list(toolkits) or pool_toolkits(config.pool, allow_bfcl=config.allow_bfcl)
        self.given_toolkits = bool(toolkits)
        self.out = Path(config.out)
        check_writable(self.out)
        self.progress = progress
        self.usage = UsageTracker()
        teacher_settings = dataclasses.replace(config.teacher, max_concurrency=self.concurrency)
        self.teacher = synthesis_teacher(teacher_settings, self.out, self.usage)
        self.reports: dict[str, StageReport] = {}
        self.simulator: Simulator | None = None
        self.student: Teacher | None = None
        self.student_format_source = ""
        # The graph and the paths are written only once every stage folder has been found to belong to this run:
        # a run refused as "made by another run" leaves the folder as it was.
        self.pending_writes: list[Callable[[], None]] = []
        self.graph: FunctionGraph | None = None
        self.paths: list[SignaturePath] = []
        self.report_checks = tuple(report_checks)

    async def run(self, *, datasets: bool = True) -> dict[str, Any]:
        """Every stage in order; returns the final report (also written as ``report.json``/``report.md``). With
        ``datasets=False`` it stops before the datasets stage (a Ray task doing one part of the teacher stages),
        as a part other than 0 always does."""
        try:
            graph = self.graph = await self.graph_stage()
            paths = self.paths = self.paths_stage(graph)
            with frozen_heap():  # the stages that talk to the teacher: no full collection walks the imports
                await self.teacher_stages(graph, paths)
            if (self.part is not None and self.part[0] != 0) or not datasets:
                raise StageIncomplete(
                    "every stage is done; part 0 (or a run without --shard) writes the datasets", part_done=True
                )
            return self.dataset_stage()
        except StageIncomplete as incomplete:
            return {"incomplete": str(incomplete), "part_done": incomplete.part_done, "usage": self.usage.to_dict()}
        finally:
            await self.close()

    async def plan(self) -> None:
        """The graph and the paths, written once every stage folder is found to belong to this run: what the parts
        of a sharded run share (``magnet.synthesis.ray_executor`` makes them before it starts the parts)."""
        try:
            graph = self.graph = await self.graph_stage()
            paths = self.paths = self.paths_stage(graph)
            self._commit(self._identities(longest_first(paths, lambda path: len(path.functions))))
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the teacher's and the student's connections and end the pool's MCP servers (a later call
        starts new ones)."""
        for model in (self.teacher, self.student):
            if hasattr(model, "aclose"):
                await model.aclose()
        for klass in self.toolkits:
            if hasattr(klass, "close_servers"):
                klass.close_servers()

    async def graph_stage(self) -> FunctionGraph:
        path = self.out / "graph.json"
        specs = (
            [spec for klass in self.toolkits for spec in klass.specs()]
            if self.given_toolkits
            else pool_specs(self.config.pool, allow_bfcl=self.config.allow_bfcl, toolkits=self.toolkits)
        )
        specs_hash = specs_digest(specs)
        self.pool_digest = pool_digest(specs_hash, self.toolkits)
        settings = {
            "pool": self.config.pool if not self.given_toolkits else sorted(k.toolkit_name() for k in self.toolkits),
            "specs": specs_hash,
            "seed": self.config.seed,
            **dataclasses.asdict(self.config.graph),
            "teacher": self.teacher.name if self.config.graph.judge == "llm" else None,
        }
        if is_fresh(path, settings):
            return FunctionGraph.load(path)
        self._only_part_zero_builds("graph.json")
        graph = await build_graph(
            specs,
            graph_judge(self.config.graph, self.teacher),
            graph_config(self.config.graph, self.config.seed),
            teacher=self.teacher,
            progress=self.progress,
        )
        self.pending_writes += [lambda: graph.save(path), lambda: record_settings(path, settings)]
        return graph

    def paths_stage(self, graph: FunctionGraph) -> list[SignaturePath]:
        path = self.out / "paths.jsonl"
        edges = json.dumps([dataclasses.asdict(edge) for edge in graph.edges()])
        settings = {
            "seed": self.config.seed,
            **dataclasses.asdict(self.config.paths),
            "graph": hashlib.sha256(edges.encode()).hexdigest()[:16],
        }
        if is_fresh(path, settings):
            return read_paths(path.read_text(encoding="utf-8").splitlines(), str(path))
        self._only_part_zero_builds("paths.jsonl")
        paths = sample_signature_paths(graph, self.config.paths, self.config.seed).paths()
        self.pending_writes += [
            lambda: write_jsonl((item.to_dict() for item in paths), path),
            lambda: record_settings(path, settings),
        ]
        return paths

    def _registry(self, graph: FunctionGraph):
        return registry_and_simulator(
            graph,
            self.toolkits,
            self.teacher,
            store=self.out / "simulated.sqlite",
            recorded_outputs=self.out / "mcp-outputs.sqlite",
        )

    def _only_part_zero_builds(self, name: str) -> None:
        """Parts share the graph and the paths: part 0 (or a run without --shard) builds them, the others wait,
        so that no two machines write them at once or sample different paths."""
        if self.part is not None and self.part[0] != 0:
            raise StageIncomplete(
                f"{name} is built by part 0 (or a run without --shard); start part 0 first, then rerun this part"
            )

    def _check(self, stage: str) -> None:
        if not self.reports[stage].complete:
            raise StageIncomplete(
                f"stage {stage}: this part ({self.part[0]}/{self.part[1]}) is done; other parts "
                "still have shards to do: rerun when they finish"
                if self.part
                else f"stage {stage} did not finish",
                part_done=self.part is not None,
            )

    def _stage_config(self, **extra: Any) -> dict[str, Any]:
        """What decides a stage's output besides its inputs (no secrets: keys live in the environment)."""
        teacher = dataclasses.asdict(self.config.teacher)
        teacher.pop("cache", None)
        teacher.pop("no_cache", None)
        teacher.pop("price", None)
        return {
            "seed": self.config.seed,
            "teacher": self.teacher.name,
            "teacher_settings": teacher,
            "pool": self.pool_digest,
            **extra,
        }

    def _identities(self, paths: Sequence[SignaturePath]) -> tuple[dict, dict, dict]:
        """What the translate, positives and negatives stages are made from (their folders must hold nothing
        else)."""
        t = self.config.translate
        translate_id = stage_identity(
            "translate", paths, t.shard_size, self._stage_config(translate=dataclasses.asdict(t))
        )
        positives_id = chained_identity(
            "positives",
            translate_id,
            self._stage_config(
                max_steps=self.config.max_steps, **({} if self.config.positive_hints else {"hints": False})
            ),
        )
        negatives_id = chained_identity(
            "negatives", positives_id, self._stage_config(negatives=dataclasses.asdict(self.config.negatives))
        )
        return translate_id, positives_id, negatives_id

    def _commit(self, identities: tuple[dict, dict, dict]) -> None:
        """Check that every stage folder belongs to this run, then write the graph and the paths."""
        translate_id, positives_id, negatives_id = identities
        check_stage_folder(self.out / "episodes", translate_id, self.part)
        check_stage_folder(self.out / "positives", positives_id, self.part)
        if self.config.negatives.source != "none":
            check_stage_folder(self.out / "negatives", negatives_id, self.part)
        self.out.mkdir(parents=True, exist_ok=True)
        for write in self.pending_writes:
            write()
        self.pending_writes.clear()

    async def teacher_stages(self, graph: FunctionGraph, paths: list[SignaturePath]) -> None:
        """Translate, positives and negatives, pipelined: shard ``i`` of each stage is made from shard ``i`` of
        the one before and starts as soon as that shard is on disk, so the teacher's slots stay busy from the
        first path to the last (a stage never waits for the slowest item of the one before). Each stage keeps its
        own folder, manifest and resume; a failure in one stops them all."""
        student = self.student = self._student()
        paths = longest_first(paths, lambda path: len(path.functions))
        identities = translate_id, positives_id, negatives_id = self._identities(paths)
        shard_count = -(-len(paths) // self.config.translate.shard_size)
        translated, distilled = ShardChannel(), ShardChannel()
        with_negatives = self.config.negatives.source != "none"
        self._commit(identities)
        registry, self.simulator = self._registry(graph)

        async def translate() -> None:
            try:
                await self.translate_stage(graph, paths, registry, translate_id, on_shard=translated.put)
            finally:
                translated.close()

        async def positives() -> None:
            try:
                await self.positive_stage(
                    positives_id, shard_count, translated, registry, on_shard=distilled.put if with_negatives else None
                )
            finally:
                distilled.close()

        stages = [translate(), positives()]
        if with_negatives:
            stages.append(self.negative_stage(negatives_id, shard_count, distilled, registry, student))
        tasks = [asyncio.ensure_future(stage) for stage in stages]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for stage in self.reports:
            self._check(stage)

    async def translate_stage(self, graph, paths, registry, identity, on_shard=None) -> None:
        t = self.config.translate
        translator = make_translator(graph, registry, self.teacher, t, self.config.seed, self.simulator)
        self.reports["translate"] = await translate_paths(
            translator,
            paths,
            self.out / "episodes",
            shard_size=t.shard_size,
            max_concurrency=self.concurrency,
            identity=identity,
            progress=self.progress,
            part=self.part,
            on_shard=on_shard,
            position=0,
        )

    async def positive_stage(self, identity, shard_count: int, translated: ShardChannel, registry, on_shard) -> None:
        episodes = self.out / "episodes"

        async def shards():
            async for index in translated:
                refs = index_shard(shard_path(episodes, index), describe_episode)
                yield index, longest_first(refs, lambda ref: ref.size)

        async def process(ref: RecordRef) -> Outcome:
            episode = Episode.from_dict(ref.load())
            result = await distill(
                episode,
                registry,
                self.teacher,
                max_steps=self.config.max_steps,
                simulator=self.simulator,
                hints=self.config.positive_hints,
            )
            if result.row is not None:
                return Outcome(record={"row": result.row.to_dict(), "rollout": result.rollout.to_dict()})
            return Outcome(rejection={"episode": episode.id, "reasons": list(result.reasons)}, reason=result.reason)

        self.reports["positives"] = await run_chained_stage(
            identity,
            shard_count,
            shards(),
            process,
            self.out / "positives",
            max_concurrency=self.concurrency,
            progress=self.progress,
            part=self.part,
            on_shard=on_shard,
            position=1,
        )

    def _student(self) -> Teacher | None:
        """The student model of ``negatives.source: student`` or ``sampled`` (None for the other sources),
        checked before any stage starts."""
        student, self.student_format_source = make_student(self.config.negatives, self.out, self.usage)
        return student

    async def negative_stage(
        self, identity, shard_count: int, distilled: ShardChannel, registry, student: Teacher | None
    ) -> None:
        settings = self.config.negatives

        async def shards():
            async for index in distilled:
                episodes = {
                    ref.id: ref for ref in index_shard(shard_path(self.out / "episodes", index), describe_episode)
                }
                positives = index_shard(shard_path(self.out / "positives", index), describe_positive)
                yield index, [NegativeItem(ref, episodes[ref.parent]) for ref in positives]

        async def process(item: NegativeItem) -> Outcome:
            record = item.positive.load()
            row = SFTRow.from_dict(record["row"])
            positive = Rollout.from_dict(record["rollout"])
            episode = Episode.from_dict(item.episode.load())
            if student is None:
                pair = await perturb_negative(
                    episode, positive, row, registry, self.teacher, seed=self.config.seed, simulator=self.simulator
                )
            else:
                sampling = {"samples": settings.samples, "temperature": settings.temperature, "seed": self.config.seed}
                if settings.source == "sampled":
                    pair = await sampled_negative(
                        episode, positive, row, registry, student, **sampling, simulator=self.simulator
                    )
                else:
                    pair = await student_negative(
                        episode, positive, row, registry, student, self.teacher, **sampling, simulator=self.simulator
                    )
            if pair is None:
                return Outcome(rejection={"episode": episode.id}, reason="no_negative")
            record = pair.to_dict()
            invalid = validate_preference_row(record)
            if invalid:  # e.g. a student that answered nothing: a rejection, never a dataset stage that fails
                return Outcome(rejection={"episode": episode.id, "reasons": invalid}, reason="invalid_pair")
            if settings.recovery:  # an SFT row beside the pair: the datasets stage reads it from here
                recovered = await recovery_row(
                    episode, positive, registry, self.teacher, seed=self.config.seed, simulator=self.simulator
                )
                if recovered is not None:
                    record[RECOVERY_KEY] = recovered.to_dict()
            return Outcome(record=record)

        self.reports["negatives"] = await run_chained_stage(
            identity,
            shard_count,
            shards(),
            process,
            self.out / "negatives",
            max_concurrency=self.concurrency,
            progress=self.progress,
            part=self.part,
            position=2,
        )

    def dataset_stage(self) -> dict[str, Any]:
        """The datasets (``build_datasets``) and the run report. With ``progress`` off, datasets' own bars are off
        too (a notebook cell or a log stays readable)."""
        with datasets_progress(self.progress):
            report = build_datasets(
                self.out, self.config.datasets, self.config.seed, with_pairs=self.config.negatives.source != "none"
            )
        report["stages"] = stage_summaries(self.reports, self.out)
        report["insert"] = insert_summary(self.out / "episodes")
        if self.graph is not None:
            called = report.pop("functions_called")
            report["functions_without_rows"] = functions_without_rows(self.graph, called, self.paths)
        for check in self.report_checks:  # checks from layers above synthesis (the BFCL contamination check)
            report.update(check(self.out))
        report["models"] = models_report(self.teacher, self.student, self.student_format_source)
        report["usage"] = self.usage.to_dict()
        write_report(self.out, report)
        self.usage.save(self.out / "usage.json")
        return report


def run_synth(
    config: SynthConfig,
    *,
    progress: bool = True,
    part: tuple[int, int] | None = None,
    toolkits: Sequence[type[Toolkit]] = (),
    report_checks: Sequence[Callable[[Path], Mapping[str, Any]]] = (),
) -> dict[str, Any]:
    """Run every stage of ``config`` (resuming what a previous run left); ``part=(i, n)`` for one of n machines;
    ``toolkits`` (classes) replace the config's pool, e.g. a class defined in a notebook; ``report_checks`` add
    sections to the report (see ``Synth``)."""
    synth = Synth(config, progress=progress, part=part, toolkits=toolkits, report_checks=report_checks)
    return run_sync(synth.run())
