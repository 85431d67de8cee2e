"""``magnet synth``'s settings: one dataclass per section, every field with its help text, and the loader that
reads a YAML file, then Python values or flags, then ``section.key=value`` overrides, into a validated
``SynthConfig`` (the mechanism every Magnet configuration shares: ``magnet.settings``).

Kept apart from the stages (``magnet.synthesis.synth``) so that the CLI, the API and the generated configuration
reference read the settings without importing the pipeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from magnet.errors import MagnetError
from magnet.llm.settings import TeacherSettings
from magnet.settings import load_settings

__all__ = [
    "DatasetSettings",
    "GraphSettings",
    "NegativeSettings",
    "OperationSettings",
    "PathSettings",
    "SynthConfig",
    "TeacherSettings",
    "TranslateSettings",
    "load_config",
]


@dataclass
class GraphSettings:
    """The function graph (section 3.2)."""

    judge: Literal["schema", "llm"] = field(
        default="schema",
        metadata={"help": "schema (output fields matched to parameters) or llm (the paper's teacher prompts)."},
    )
    candidates: int = field(default=30, metadata={"help": "Candidate neighbours judged per function."})
    min_class_size: int = field(
        default=5, metadata={"help": "Below this many functions in a tool class, candidates come from the category."}
    )
    min_score: float = field(default=0.5, metadata={"help": "Lowest schema-judge score that makes an edge."})


@dataclass
class OperationSettings:
    """The node operations' probabilities (section 3.3; the paper's p_merge = 0.3, the others its unstated
    choices)."""

    p_merge: float = field(
        default=0.3, metadata={"help": "Merge: probability that two consecutive turns become one (the paper: 0.3)."}
    )
    p_insert: float = field(
        default=1.0, metadata={"help": "Insert: probability of appending a nested neighbour to a turn."}
    )
    p_insert_later: float = field(
        default=0.3, metadata={"help": "Insert: probability that the nested call gets a later turn of its own."}
    )
    p_miss_func: float = field(
        default=0.5, metadata={"help": "Split: share of split turns that hide a function (else a parameter)."}
    )
    merge: bool = field(
        default=True, metadata={"help": "Apply Merge (off: the ablation of the paper's Table 4, 'init graph')."}
    )
    insert: bool = field(default=True, metadata={"help": "Apply Insert (off, with merge on: Table 4's '+merge')."})
    split: bool = field(
        default=True,
        metadata={"help": "Add each walk's Split copy (off, with merge and insert on: Table 4's '+merge+insert')."},
    )

    def __post_init__(self) -> None:
        for name in ("p_merge", "p_insert", "p_insert_later", "p_miss_func"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise MagnetError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass
class PathSettings(OperationSettings):
    """Walks and node operations (section 3.3), and the single-turn and irrelevance paths of the mixture."""

    steps: int = field(default=7, metadata={"help": "The paper's S: steps of a random walk at most."})
    walks_per_function: int = field(default=10, metadata={"help": "Random walks started from every function."})
    limit: int | None = field(
        default=None, metadata={"help": "Stop after this many distinct walks (None: all).", "aliases": ["--n"]}
    )
    single: int | None = field(
        default=None,
        metadata={"help": "Single-turn paths with one call (None: 60% of the single-turn paths, see irrelevance)."},
    )
    parallel: int | None = field(
        default=None,
        metadata={"help": "Single-turn paths calling one function several times (None: 20% of the single-turn paths)."},
    )
    multiple: int | None = field(
        default=None,
        metadata={"help": "Single-turn paths choosing one function among several (None: 20% of single-turn paths)."},
    )
    irrelevance: int | None = field(
        default=None,
        metadata={
            "help": "Paths whose request no listed function serves. None, here and above: scaled to the walks so "
            "that the paper's Table 1 mixture can be met (single-turn paths 2.56 and irrelevance paths 0.79 per "
            "multi-turn path; single-turn split 60/20/20 into single, parallel and multiple), and at least one "
            "single path per function."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("single", "parallel", "multiple", "irrelevance", "limit"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise MagnetError(f"{name} must be at least 0 (or null), got {value}")
        if self.steps < 1 or self.walks_per_function < 0:
            raise MagnetError("steps must be at least 1 and walks_per_function at least 0")


@dataclass
class TranslateSettings:
    """Back-and-forth translation (section 3.4)."""

    max_attempts: int = field(
        default=3, metadata={"help": "Retries of a step, the problem shown to the teacher each time."}
    )
    turn_attempts: int = field(
        default=3, metadata={"help": "Times a turn is started over before the path is rejected."}
    )
    shard_size: int = field(
        default=200, metadata={"help": "Items per shard of every sharded stage (the unit of resume and --shard)."}
    )

    def __post_init__(self) -> None:
        if self.shard_size < 1 or self.max_attempts < 1 or self.turn_attempts < 1:
            raise MagnetError("shard_size, max_attempts and turn_attempts must be at least 1")


@dataclass
class NegativeSettings:
    """Negatives (section 3.5): ``perturb`` (rules), ``student`` (the SFT model) or ``none``."""

    source: Literal["perturb", "student", "sampled", "none"] = field(
        default="perturb",
        metadata={
            "help": "perturb (rule-based wrong calls), student (the SFT model, judged, rolled out again with its "
            "wrong calls as hints), sampled (the SFT model's own hint-free samples, unjudged: Table 4's 'mDPO "
            "without negative-hint distillation') or none.",
            "aliases": ["--negatives"],
        },
    )
    samples: int = field(default=10, metadata={"help": "Student samples per turn to find a wrong one."})
    recovery: bool = field(
        default=False,
        metadata={
            "help": "Also write recovery rows (SFT kind recovery): a wrong call, its real error or output, then the "
            "reference calls (beyond the paper: its limitation 3). Kept beside the SFT mixture, all of them."
        },
    )
    temperature: float = field(default=0.7, metadata={"help": "Student sampling temperature."})
    student: TeacherSettings | None = field(
        default=None, metadata={"help": "The student model (kind openai or hf), as in teacher."}
    )
    student_tool_format: Literal["bfcl_prompt", "native"] | None = field(
        default=None,
        metadata={
            "help": "The format the student was trained in (bfcl_prompt or native); None: its magnet.json when "
            "student.model is a local folder, else bfcl_prompt."
        },
    )


@dataclass
class DatasetSettings:
    """The mixture (``paper``: Table 1's proportions; ``all``; or counts per kind) and the outputs."""

    sft_mixture: Any = field(
        default="paper", metadata={"help": "paper (Table 1's shares), all, or counts per kind {multi_turn: 7800, ...}."}
    )
    preference_mixture: Any = field(default="all", metadata={"help": "As sft_mixture, for the preference pairs."})
    test_size: float = field(default=0.05, metadata={"help": "Share (or count) of rows held out as the test split."})
    holdout_toolkits: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Toolkits left out of training entirely: their episodes are in no dataset, and `magnet eval "
            "episodes --split holdout` evaluates a model on them (the out-of-domain check)."
        },
    )
    exports: bool = field(
        default=True, metadata={"help": "Also write ShareGPT (LLaMA-Factory) and OpenAI fine-tuning JSONL."}
    )
    push_to_hub: str | None = field(
        default=None, metadata={"help": "Hub repository to push both datasets to (needs network and a token)."}
    )


@dataclass
class SynthConfig:
    """Everything ``magnet synth`` needs; every field has a default."""

    out: str = field(default="runs/synth", metadata={"help": "Output folder (stages resume from what it holds)."})
    seed: int = field(default=0, metadata={"help": "Seed of every random choice."})
    pool: str | list[str] = field(
        default="builtin",
        metadata={
            "help": "builtin, bfcl, package.module:Class toolkits, an OpenAI tools JSON file, a StableToolBench "
            "folder or mcp:<command line or URL> servers; comma-joined, or a list."
        },
    )
    allow_bfcl: bool = field(
        default=False, metadata={"help": "Allow BFCL's classes in a training pool (contaminates BFCL scores)."}
    )
    teacher: TeacherSettings = field(default_factory=TeacherSettings, metadata={"help": "The teacher model."})
    graph: GraphSettings = field(default_factory=GraphSettings, metadata={"help": "The function graph."})
    paths: PathSettings = field(default_factory=PathSettings, metadata={"help": "Signature paths."})
    translate: TranslateSettings = field(default_factory=TranslateSettings, metadata={"help": "Translation."})
    max_steps: int = field(
        default=8,
        metadata={
            "help": "Assistant responses a turn may take beyond one per reference call when distilling (a turn of "
            "many calls is never cut short; a looping model is)."
        },
    )
    positive_hints: bool = field(
        default=True,
        metadata={
            "help": "Show the teacher the reference calls as hints when distilling (off: plain teacher "
            "trajectories, Table 4's 'SFT without positive-hint distillation')."
        },
    )
    negatives: NegativeSettings = field(default_factory=NegativeSettings, metadata={"help": "Negative trajectories."})
    datasets: DatasetSettings = field(default_factory=DatasetSettings, metadata={"help": "Mixture, split and exports."})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (what the run records)."""
        return dataclasses.asdict(self)


def load_config(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    values: Mapping[str, Any] | None = None,
    *,
    values_where: str = "settings",
) -> SynthConfig:
    """A ``SynthConfig`` from YAML, then ``values`` (Python settings, or flags with ``values_where="--"``), then
    ``key.sub=value`` overrides (values parsed as YAML); unknown keys and malformed overrides are errors naming
    them."""
    return load_settings(SynthConfig, path, overrides, values, what="synth config", values_where=values_where)
