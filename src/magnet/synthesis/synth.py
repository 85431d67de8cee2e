"""``magnet synth``: the whole synthesis, from a function pool to HF Datasets, as resumable stages.

graph -> paths (walks + Merge/Insert/Split, single-turn and irrelevance) -> translate -> positives (hinted
distillation) -> negatives (perturb or student) -> datasets (mixture, train/test, exports, statistics, plots).
Each stage writes its output under ``out``; the sharded ones (translate, positives, negatives) keep manifests, so a
rerun skips finished shards and redoes unfinished ones, and the graph and paths are rebuilt only when their
settings change. The configuration is a YAML file with command-line overrides (``--set paths.single=100``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from magnet.data.export import llamafactory_dataset_info, to_openai_finetune, to_sharegpt
from magnet.data.mixture import PAPER_PREFERENCE_COUNTS, PAPER_SFT_COUNTS, mix, shares_of, split
from magnet.data.schema import SFTRow, preference_dataset, sft_dataset
from magnet.data.stats import PAPER_TABLE_1, comparison_table, dataset_stats, error_types, plot_distributions
from magnet.errors import MagnetError
from magnet.files import write_atomic, write_jsonl
from magnet.llm.cache import RequestCache
from magnet.llm.client import Teacher
from magnet.llm.usage import UsageTracker
from magnet.synthesis.distill import Rollout, distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import FunctionGraph, GraphConfig, LLMJudge, SchemaJudge, build_graph
from magnet.synthesis.negatives import perturb_negative, student_negative
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import OperationConfig, reshape
from magnet.synthesis.paths import SignaturePath, read_paths, sample_paths, sample_single_turn
from magnet.synthesis.pipeline import Outcome, StageReport, read_records, run_stage
from magnet.synthesis.simulate import Simulator
from magnet.synthesis.translate import TranslateConfig, Translator, build_registry, spec_only_functions
from magnet.tools.pool import pool_specs

# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TeacherSettings:
    """Which model answers: ``offline`` (no model), ``openai`` (any OpenAI-compatible endpoint) or ``hf``."""

    kind: str = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = 16
    timeout: float = 60.0
    max_retries: int = 6
    temperature: float | None = None
    cache: str | None = None
    no_cache: bool = False


@dataclass
class GraphSettings:
    """The function graph (section 3.2)."""

    judge: str = "schema"
    candidates: int = 30
    min_class_size: int = 5
    min_score: float = 0.5


@dataclass
class PathSettings:
    """Walks and node operations (section 3.3), and the single-turn and irrelevance paths of the mixture."""

    steps: int = 7
    walks_per_function: int = 10
    limit: int | None = None
    p_merge: float = 0.3
    p_insert: float = 1.0
    p_insert_later: float = 0.3
    p_miss_func: float = 0.5
    single: int = 0
    parallel: int = 0
    multiple: int = 0
    irrelevance: int = 0


@dataclass
class TranslateSettings:
    """Back-and-forth translation (section 3.4)."""

    max_attempts: int = 3
    turn_attempts: int = 3
    shard_size: int = 200


@dataclass
class NegativeSettings:
    """Negatives (section 3.5): ``perturb`` (rules), ``student`` (the SFT model) or ``none``."""

    source: str = "perturb"
    samples: int = 10
    temperature: float = 0.7
    student: TeacherSettings | None = None


@dataclass
class DatasetSettings:
    """The mixture (``paper``: Table 1's proportions; ``all``; or counts per kind) and the outputs."""

    sft_mixture: Any = "paper"
    preference_mixture: Any = "all"
    test_size: float = 0.05
    exports: bool = True
    push_to_hub: str | None = None


@dataclass
class SynthConfig:
    """Everything ``magnet synth`` needs; every field has a default."""

    out: str = "runs/synth"
    seed: int = 0
    pool: str = "builtin"
    allow_bfcl: bool = False
    teacher: TeacherSettings = field(default_factory=TeacherSettings)
    graph: GraphSettings = field(default_factory=GraphSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    translate: TranslateSettings = field(default_factory=TranslateSettings)
    max_steps: int = 8
    negatives: NegativeSettings = field(default_factory=NegativeSettings)
    datasets: DatasetSettings = field(default_factory=DatasetSettings)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (what the run records)."""
        return dataclasses.asdict(self)


def _type_problem(value: Any, annotation: Any) -> str | None:
    """Why ``value`` does not fit a setting's annotation (plain types, optionals, lists, literals), or None."""
    if annotation is Any:
        return None
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, option) for option in arguments]
        return None if any(problem is None for problem in problems) else " or ".join(p for p in problems if p)
    if origin is typing.Literal:
        return None if value in arguments else f"one of {list(arguments)}"
    if origin in (list, tuple, Sequence):
        if not isinstance(value, list | tuple):
            return "a list"
        return next((p for item in value if (p := _type_problem(item, arguments[0] if arguments else Any))), None)
    if origin in (dict, Mapping):
        return None if isinstance(value, Mapping) else "a mapping"
    if annotation is type(None):
        return None if value is None else "null"
    if annotation is bool:
        return None if isinstance(value, bool) else "true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if annotation is float:
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "a number"
    if annotation is str:
        return None if isinstance(value, str) else "a string"
    return None


def _build(klass: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise MagnetError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(klass)}
    hints = typing.get_type_hints(klass)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise MagnetError(f"{where}: unknown setting(s) {unknown}; known: {sorted(fields)}")
    values = {}
    for name, value in data.items():
        nested = {
            "teacher": TeacherSettings,
            "graph": GraphSettings,
            "paths": PathSettings,
            "translate": TranslateSettings,
            "negatives": NegativeSettings,
            "datasets": DatasetSettings,
            "student": TeacherSettings,
        }.get(name)
        if nested and value is not None:
            values[name] = _build(nested, value, f"{where}.{name}")
            continue
        problem = _type_problem(value, hints.get(name, Any))
        if problem:
            raise MagnetError(f"{where}.{name}: expected {problem}, got {value!r:.60}")
        values[name] = value
    return klass(**values)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> SynthConfig:
    """A ``SynthConfig`` from YAML plus ``key.sub=value`` overrides (values parsed as YAML); unknown keys and
    malformed overrides are errors naming them."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise MagnetError(f"{path}: cannot read the synth config ({' '.join(str(error).split())})") from None
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise MagnetError(f"--set {override!r}: expected key=value, e.g. paths.single=100")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MagnetError(f"--set {override!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return _build(SynthConfig, data, str(path or "config"))


def longest_first(items: Sequence[Any], size: Any) -> list[Any]:
    """Items in order of decreasing ``size`` (ties in their given order): a stage's items are chains of dependent
    teacher requests, so starting the long chains first keeps every concurrency slot busy until the end instead of
    leaving a few long ones running alone (the order is deterministic, so shards and resumes are unaffected)."""
    return sorted(items, key=lambda item: -size(item))


def make_teacher(settings: TeacherSettings, out: Path, usage: UsageTracker) -> Teacher:
    """The teacher the settings describe (its cache under ``out`` unless set)."""
    if settings.kind == "offline":
        return OfflineTeacher(usage=usage)
    if not settings.model:
        raise MagnetError(f"--teacher {settings.kind} needs --model (teacher.model in a config)")
    cache = None if settings.no_cache else RequestCache(settings.cache or out / "cache.sqlite")
    params = {} if settings.temperature is None else {"temperature": settings.temperature}
    if settings.kind == "openai":
        from magnet.llm.client import OpenAITeacher

        return OpenAITeacher(
            settings.model,
            base_url=settings.base_url,
            api_key_env=settings.api_key_env,
            max_concurrency=settings.max_concurrency,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            cache=cache,
            usage=usage,
            default_params=params,
        )
    if settings.kind == "hf":
        from magnet.llm.local import HFTeacher

        return HFTeacher(settings.model, cache=cache, usage=usage, default_params=params)
    raise MagnetError(f"teacher.kind must be offline, openai or hf, got {settings.kind!r}")


# ---------------------------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------------------------


def _fresh(path: Path, settings: Mapping[str, Any]) -> bool:
    """Whether ``path`` was built with these settings (recorded beside it)."""
    record = path.with_name(path.name + ".settings.json")
    return (
        path.exists()
        and record.exists()
        and json.loads(record.read_text()) == json.loads(json.dumps(settings, default=str))
    )


def _record(path: Path, settings: Mapping[str, Any]) -> None:
    write_atomic(path.with_name(path.name + ".settings.json"), json.dumps(settings, indent=1, default=str) + "\n")


class StageIncomplete(Exception):
    """A sharded stage is not finished: other parts (``--shard i/n``) still have shards to do."""


class Synth:
    """One synthesis run: its config, teacher, usage, and the report of every stage.

    With ``part=(i, n)`` this process does the i-th of n parts of each sharded stage (machines sharing ``out``)
    and stops at the first stage the other parts have not finished; rerun it (or run without ``part``) to go on.
    """

    def __init__(self, config: SynthConfig, *, progress: bool = True, part: tuple[int, int] | None = None):
        self.part = part
        self.config = config
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.usage = UsageTracker()
        self.teacher = make_teacher(config.teacher, self.out, self.usage)
        self.reports: dict[str, StageReport] = {}
        self.simulator: Simulator | None = None

    async def run(self) -> dict[str, Any]:
        """Every stage in order; returns the final report (also written as ``report.json``/``report.md``)."""
        try:
            graph = await self.graph_stage()
            paths = self.paths_stage(graph)
            registry, simulator = self._registry(graph)
            self.simulator = simulator
            episodes = await self.translate_stage(graph, paths, registry, simulator)
            positives = await self.positive_stage(episodes, registry)
            pairs = await self.negative_stage(episodes, positives, registry)
            if self.part is not None and self.part[0] != 0:
                raise StageIncomplete("every stage is done; part 0 (or a run without --shard) writes the datasets")
            return self.dataset_stage(positives, pairs)
        except StageIncomplete as incomplete:
            return {"incomplete": str(incomplete), "usage": self.usage.to_dict()}
        finally:
            if hasattr(self.teacher, "aclose"):
                await self.teacher.aclose()

    async def graph_stage(self) -> FunctionGraph:
        path = self.out / "graph.json"
        settings = {
            "pool": self.config.pool,
            "seed": self.config.seed,
            **dataclasses.asdict(self.config.graph),
            "teacher": self.teacher.name if self.config.graph.judge == "llm" else None,
        }
        if _fresh(path, settings):
            return FunctionGraph.load(path)
        self._only_part_zero_builds("graph.json")
        specs = pool_specs(self.config.pool, allow_bfcl=self.config.allow_bfcl)
        settings_graph = self.config.graph
        judge = SchemaJudge(settings_graph.min_score) if settings_graph.judge == "schema" else LLMJudge(self.teacher)
        graph = await build_graph(
            specs,
            judge,
            GraphConfig(
                settings_graph.candidates, settings_graph.min_class_size, self.config.seed, settings_graph.min_score
            ),
            teacher=self.teacher,
            progress=self.progress,
        )
        graph.save(path)
        _record(path, settings)
        return graph

    def paths_stage(self, graph: FunctionGraph) -> list[SignaturePath]:
        path = self.out / "paths.jsonl"
        edges = json.dumps([dataclasses.asdict(edge) for edge in graph.edges()])
        settings = {
            "seed": self.config.seed,
            **dataclasses.asdict(self.config.paths),
            "graph": hashlib.sha256(edges.encode()).hexdigest()[:16],
        }
        if _fresh(path, settings):
            return read_paths(path.read_text(encoding="utf-8").splitlines(), str(path))
        self._only_part_zero_builds("paths.jsonl")
        p = self.config.paths
        walks = sample_paths(
            graph, steps=p.steps, walks_per_function=p.walks_per_function, seed=self.config.seed, limit=p.limit
        )
        operations = OperationConfig(p.p_merge, p.p_insert, p.p_insert_later, p.p_miss_func)
        rng = random.Random(self.config.seed)
        paths = [variant for walk in walks for variant in reshape(walk, graph, rng, operations)]
        paths += sample_single_turn(
            graph,
            single=p.single,
            parallel=p.parallel,
            multiple=p.multiple,
            irrelevance=p.irrelevance,
            seed=self.config.seed,
        )
        write_jsonl((item.to_dict() for item in paths), path)
        _record(path, settings)
        return paths

    def _registry(self, graph: FunctionGraph):
        spec_only = spec_only_functions(graph)
        simulator = (
            Simulator(self.teacher, spec_only, store=RequestCache(self.out / "simulated.sqlite")) if spec_only else None
        )
        return build_registry(graph, simulator), simulator

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
                else f"stage {stage} did not finish"
            )

    def _stage_config(self, **extra: Any) -> dict[str, Any]:
        """What decides a stage's output besides its inputs (no secrets: keys live in the environment)."""
        teacher = dataclasses.asdict(self.config.teacher)
        teacher.pop("cache", None)
        teacher.pop("no_cache", None)
        return {"seed": self.config.seed, "teacher": self.teacher.name, "teacher_settings": teacher, **extra}

    async def translate_stage(self, graph, paths, registry, simulator) -> list[Episode]:
        t = self.config.translate
        translator = Translator(
            graph, registry, self.teacher, TranslateConfig(t.max_attempts, t.turn_attempts, self.config.seed), simulator
        )

        async def process(path: SignaturePath) -> Outcome:
            result = await translator.translate(path)
            if isinstance(result, Episode):
                return Outcome(record=result.to_dict())
            return Outcome(rejection=result.to_dict(), reason=result.reason)

        self.reports["translate"] = await run_stage(
            "translate",
            longest_first(paths, lambda path: len(path.functions)),
            process,
            self.out / "episodes",
            shard_size=t.shard_size,
            max_concurrency=self.config.teacher.max_concurrency,
            config=self._stage_config(translate=dataclasses.asdict(self.config.translate)),
            progress=self.progress,
            part=self.part,
        )
        self._check("translate")
        return [Episode.from_dict(record) for record in read_records(self.out / "episodes")]

    async def positive_stage(self, episodes: list[Episode], registry) -> list[dict[str, Any]]:
        async def process(episode: Episode) -> Outcome:
            result = await distill(
                episode, registry, self.teacher, max_steps=self.config.max_steps, simulator=self.simulator
            )
            if result.row is not None:
                return Outcome(record={"row": result.row.to_dict(), "rollout": result.rollout.to_dict()})
            return Outcome(rejection={"episode": episode.id, "reasons": list(result.reasons)}, reason=result.reason)

        self.reports["positives"] = await run_stage(
            "positives",
            longest_first(episodes, lambda episode: sum(len(turn.calls) + 1 for turn in episode.turns)),
            process,
            self.out / "positives",
            shard_size=self.config.translate.shard_size,
            max_concurrency=self.config.teacher.max_concurrency,
            config=self._stage_config(max_steps=self.config.max_steps),
            progress=self.progress,
            part=self.part,
        )
        self._check("positives")
        return list(read_records(self.out / "positives"))

    async def negative_stage(
        self, episodes: list[Episode], positives: list[dict[str, Any]], registry
    ) -> list[dict[str, Any]]:
        settings = self.config.negatives
        if settings.source == "none":
            return []
        if settings.source not in ("perturb", "student"):
            raise MagnetError(f"negatives.source must be perturb, student or none, got {settings.source!r}")
        by_id = {episode.id: episode for episode in episodes}
        student = None
        if settings.source == "student":
            if settings.student is None:
                raise MagnetError("negatives.source student needs negatives.student (the SFT model: kind hf or openai)")
            student = make_teacher(settings.student, self.out, self.usage)

        class Item:
            def __init__(self, record: dict[str, Any]):
                self.record = record
                self.id = record["row"]["id"]

            def to_dict(self) -> dict[str, Any]:
                return self.record

        async def process(item: Item) -> Outcome:
            row = SFTRow.from_dict(item.record["row"])
            positive = Rollout.from_dict(item.record["rollout"])
            episode = by_id[row.meta.extra["episode"]]
            if student is None:
                pair = await perturb_negative(
                    episode, positive, row, registry, self.teacher, seed=self.config.seed, simulator=self.simulator
                )
            else:
                pair = await student_negative(
                    episode,
                    positive,
                    row,
                    registry,
                    student,
                    self.teacher,
                    samples=settings.samples,
                    temperature=settings.temperature,
                    seed=self.config.seed,
                    simulator=self.simulator,
                )
            if pair is None:
                return Outcome(rejection={"episode": episode.id}, reason="no_negative")
            return Outcome(record=pair.to_dict())

        self.reports["negatives"] = await run_stage(
            "negatives",
            [Item(record) for record in positives],
            process,
            self.out / "negatives",
            shard_size=self.config.translate.shard_size,
            max_concurrency=self.config.teacher.max_concurrency,
            config=self._stage_config(negatives=dataclasses.asdict(settings)),
            progress=self.progress,
            part=self.part,
        )
        self._check("negatives")
        return list(read_records(self.out / "negatives"))

    def dataset_stage(self, positives: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> dict[str, Any]:
        d = self.config.datasets
        rows = [record["row"] for record in positives]
        kind = lambda row: row["meta"]["kind"]  # noqa: E731
        sft_rows, sft_mix = mix(rows, kind, **_mixture(d.sft_mixture, PAPER_SFT_COUNTS), seed=self.config.seed)
        pref_rows, pref_mix = mix(
            pairs, kind, **_mixture(d.preference_mixture, PAPER_PREFERENCE_COUNTS), seed=self.config.seed
        )
        folder = self.out / "datasets"
        folder.mkdir(exist_ok=True)
        sft = split(sft_dataset(sft_rows), d.test_size, self.config.seed)
        sft.save_to_disk(str(folder / "sft"))
        report: dict[str, Any] = {"stages": {}, "mixture": {"sft": sft_mix.to_dict(), "preference": pref_mix.to_dict()}}
        if pref_rows:
            preference = split(preference_dataset(pref_rows), d.test_size, self.config.seed)
            preference.save_to_disk(str(folder / "preference"))
            report["preference_error_types"] = error_types(pref_rows)
        if d.exports:
            write_jsonl((to_sharegpt(row) for row in sft_rows), folder / "sft_sharegpt.jsonl")
            write_atomic(
                folder / "dataset_info.json",
                json.dumps(llamafactory_dataset_info("sft_sharegpt.jsonl"), indent=1) + "\n",
            )
            write_jsonl((to_openai_finetune(row) for row in sft_rows), folder / "sft_openai.jsonl")
        if d.push_to_hub:
            sft.push_to_hub(d.push_to_hub, config_name="sft")
            if pref_rows:
                preference.push_to_hub(d.push_to_hub, config_name="preference")
        sft_stats = dataset_stats(sft_rows)
        pref_stats = dataset_stats(pref_rows)
        report["sft"] = sft_stats
        report["preference"] = pref_stats
        report["plots"] = [str(plot_distributions(sft_rows, self.out / "sft_distributions.png", "SFT rows"))]
        if pref_rows:
            report["plots"].append(
                str(
                    plot_distributions(
                        pref_rows, self.out / "preference_distributions.png", "preference pairs (chosen)"
                    )
                )
            )
        for name, stage in self.reports.items():
            report["stages"][name] = {
                "inputs": stage.inputs,
                "accepted": stage.accepted,
                "rejected": stage.rejected,
                "acceptance": round(stage.acceptance, 3),
                "reasons": dict(stage.reasons),
            }
        report["usage"] = self.usage.to_dict()
        write_atomic(self.out / "report.json", json.dumps(report, indent=1, default=str) + "\n")
        write_atomic(self.out / "report.md", render_report(report))
        self.usage.save(self.out / "usage.json")
        return report


def _mixture(setting: Any, paper_counts: Mapping[str, int]) -> dict[str, Any]:
    if setting == "paper":
        return {"shares": shares_of(paper_counts)}
    if setting == "all" or setting is None:
        return {}
    if isinstance(setting, Mapping):
        return {"counts": dict(setting)}
    raise MagnetError(f"a mixture is 'paper', 'all' or counts per kind, got {setting!r}")


def render_report(report: Mapping[str, Any]) -> str:
    """The run report as Markdown: stages, mixture, statistics beside the paper's, plots."""
    lines = [
        "# magnet synth report",
        "",
        "| stage | inputs | accepted | rejected | top reasons |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, stage in report["stages"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(stage["reasons"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {name} | {stage['inputs']} | {stage['accepted']} | {stage['rejected']} | {reasons} |")
    for name, paper in (("sft", PAPER_TABLE_1["sft"]), ("preference", PAPER_TABLE_1["preference"])):
        if report.get(name, {}).get("rows"):
            lines += ["", f"## {name} ({report[name]['rows']} rows)", "", comparison_table(report[name], paper)]
    if report.get("preference_error_types"):
        lines += [
            "",
            "negatives by error type: " + ", ".join(f"{k} {v}" for k, v in report["preference_error_types"].items()),
        ]
    lines += ["", "plots: " + ", ".join(report.get("plots", []))]
    return "\n".join(lines) + "\n"


def run_synth(config: SynthConfig, *, progress: bool = True, part: tuple[int, int] | None = None) -> dict[str, Any]:
    """Run every stage of ``config`` (resuming what a previous run left); ``part=(i, n)`` for one of n machines."""
    synth = Synth(config, progress=progress, part=part)
    return asyncio.run(synth.run())
