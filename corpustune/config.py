"""The whole run's settings: one pydantic model per stage, composed; presets and YAML overrides.

Resolution order (later wins): the stage defaults (the paper's settings), a preset from
`corpustune/presets/<name>.yaml` (one preset may `extends:` another and change only what differs),
user YAML files (`--config`, several merge in the order given), `--set key.path=value` overrides,
then the command's own options (`--data`, `--format`, a stage command's shortcuts such as `--epochs`).
An invalid value is reported with the source that set it last (a file, a `--set`, an option).
Every command resolves its settings this way, so a stage run by hand and `corpustune run` agree.
The resolved config is saved as `RUN/config.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from corpustune.data.corpus import CorpusSpec
from corpustune.errors import InputError, validation_message
from corpustune.generate.config import GenerateConfig, default_max_passages
from corpustune.hardware import Precision
from corpustune.mine.config import MineConfig
from corpustune.teach.config import ScoreConfig
from corpustune.train.config import LossArm, TrainConfig

PRESETS_DIR = Path(__file__).parent / "presets"


MEASURE_EXAMPLES = "nDCG@10, R@100, RR@10, P@5, AP"


def ir_measure(name: str) -> str:
    """`name` when ir-measures parses it as a measure, else ValueError saying how to write one
    (the evaluation would fail with it only after training)."""
    import ir_measures

    try:
        ir_measures.parse_measure(name)
    except Exception as error:  # ir-measures raises NameError, ValueError or SyntaxError, by what is wrong
        raise ValueError(f"{name!r} is not an ir-measures measure ({type(error).__name__}: {error}); write one "
                         f"as ir-measures names it, e.g. {MEASURE_EXAMPLES}") from None
    return name


class EvaluateConfig(BaseModel):
    """How base and tuned models are compared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    split: str | None = Field("test", description="Human qrels split of a BEIR folder (skipped when the folder has none).")
    depth: int = Field(100, ge=1, description="Passages retrieved per query.")
    measures: tuple[str, ...] = Field(("nDCG@10", "R@100"), min_length=1, description="ir-measures names.")
    heldout: bool = Field(True, description="Also evaluate on the held-out synthetic queries, per query type.")
    precision: Precision = Field(
        "auto", description="How the select and evaluate stages encode with each model: auto = bf16 autocast "
        "where the hardware computes bf16 natively (avx512_bf16 / amx_bf16 CPUs, bf16 GPUs; 1.7-1.9x as fast on "
        "such a CPU), fp32 elsewhere; fp32 / bf16 force one. MiniLM's nDCG@10 on SciFact train moved by -0.04 ± 0.04 "
        "points (docs/benchmarks.md).",
    )

    @field_validator("measures")
    @classmethod
    def _measures_parse(cls, measures: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(ir_measure(name) for name in measures)


class SelectConfig(BaseModel):
    """Which model is published as RUN/model: an interpolation of base and tuned, chosen on held-out queries."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weights: tuple[float, ...] = Field(
        (0.0, 0.25, 0.5, 0.75, 1.0),
        description="Interpolation weights a of (1 - a) * base + a * tuned to evaluate (0 and 1 are always in).",
    )
    publish: Literal["best", "tuned", "base"] = Field(
        "best", description="best = the smallest a within one standard error of the best a on the deciding "
        "queries (the base model when that is a = 0); tuned = a = 1 always; base = the base model always.",
    )
    dev_split: str | None = Field(
        "dev", description="Human qrels split of a BEIR folder that decides, when the folder has it (never the "
        "evaluation split); otherwise the held-out synthetic queries decide.",
    )
    measure: str = Field("nDCG@10", description="The ir-measures measure that decides.")
    judge: Literal["teacher", "source"] = Field(
        "teacher", description="How the held-out synthetic queries grade a model when they decide: teacher = the "
        "run's teachers (score.teachers) rank each query's pool (its source passage and every weight's top 10), "
        "grade 3 for their first, 2 for ranks 2-3, 1 for ranks 4-10 (corpustune.evaluate.graded); source = the "
        "source passage is the one relevant passage. A human dev split is graded by its qrels either way.",
    )
    answerable_min_overlap: int = Field(
        1, ge=0, description="Held-out queries sharing fewer content words with their passage (or more with a "
        "few-shot example of their prompt) are dropped from every held-out set.",
    )
    corpus: Literal["auto", "sub", "full"] = Field(
        "auto", description="What the grid is evaluated on: full = the whole corpus (one encoding of every passage "
        "per weight); sub = a sub-corpus of the judged and held-out passages, the base model's and BM25's top "
        "sub_top_k for every evaluation query and sub_distractors random passages (corpustune.evaluate.subcorpus), "
        "its size O(queries x k), not O(corpus); auto = sub above sub_corpus_above passages, full up to it and for a "
        "query-tuned student (train.tune: query: every weight searches the base model's cached embeddings).",
    )
    sub_corpus_above: int = Field(
        20_000, ge=0, description="corpus: auto evaluates on the whole corpus up to this many passages, on a "
        "sub-corpus above: every collection we test on (at most SciFact's 5,183) stays full; at 20,000 MiniLM needs "
        "about 8 minutes per weight on 2 CPU cores (the laptop preset's 2 minutes on SciFact, scaled).",
    )
    sub_top_k: int = Field(100, ge=1,
                           description="Base-model and BM25 top-k of each evaluation query in the sub-corpus.")
    sub_distractors: int = Field(1_000, ge=0,
                                 description="Random further passages in the sub-corpus (seeded by sub_seed).")
    sub_seed: int = Field(0, description="Seed of the sub-corpus's random distractors.")

    @field_validator("measure")
    @classmethod
    def _measure_parses(cls, measure: str) -> str:
        return ir_measure(measure)

    @field_validator("weights")
    @classmethod
    def _weights_in_unit_interval(cls, weights: tuple[float, ...]) -> tuple[float, ...]:
        if not weights or any(not 0.0 <= w <= 1.0 for w in weights):
            raise ValueError(f"select.weights must be numbers in [0, 1], got {list(weights)}")
        return weights


class RunConfig(BaseModel):
    """Everything `corpustune run` does, stage by stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: CorpusSpec
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    mine: MineConfig = Field(default_factory=MineConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    ablation: tuple[LossArm, ...] = Field(
        (), description="Extra loss arms trained on the same lists and evaluated beside the main model."
    )
    select: SelectConfig = Field(default_factory=SelectConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    @model_validator(mode="before")
    @classmethod
    def _cap_passages(cls, data: Any) -> Any:
        """Set `generate.max_passages` to `default_max_passages` when the settings leave it out.

        Runs before validation (a frozen model is not changed afterwards); settings that do not
        validate are passed on untouched, so the usual error names them.
        """
        if not isinstance(data, Mapping):
            return data
        generate, train = data.get("generate") or {}, data.get("train") or {}
        try:
            generate = generate if isinstance(generate, GenerateConfig) else GenerateConfig.model_validate(generate)
            train = train if isinstance(train, TrainConfig) else TrainConfig.model_validate(train)
        except ValidationError:
            return data
        if "max_passages" in generate.model_fields_set:
            return data
        cap = default_max_passages(generate, train.queries_per_step)
        return {**data, "generate": generate.model_copy(update={"max_passages": cap})}


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_settings(name: str, extended_by: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings of preset `name`: its file, merged over the preset its `extends:` names, if any."""
    if name not in preset_names():
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(preset_names())}")
    if name in extended_by:
        raise InputError(f"presets extend each other in a loop: {' -> '.join((*extended_by, name))}")
    path = PRESETS_DIR / f"{name}.yaml"
    own = read_yaml_mapping(path)
    parent = own.pop("extends", None)
    if parent is None:
        return own
    if parent not in preset_names():
        raise InputError(f"{path}: extends unknown preset {parent!r}; choose one of {', '.join(preset_names())}")
    return merge(preset_settings(parent, (*extended_by, name)), own)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise InputError(f"{path}: config file not found")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: byte offset {error.start} is not valid UTF-8; save the file as UTF-8") from None
    except yaml.YAMLError as error:
        raise InputError(f"{path}: {yaml_problem(error)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InputError(f"{path}: expected a mapping of settings at the top level")
    return loaded


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings: nested mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def nested(path: str, value: Any) -> dict[str, Any]:
    """`nested("train.epochs", 3)` -> {"train": {"epochs": 3}}."""
    for key in reversed(path.strip().split(".")):
        value = {key: value}
    return value


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line: where the YAML is wrong (line and column, 1-based) and what is wrong."""
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML ({_yaml_reason(error)})"


def _yaml_reason(error: yaml.YAMLError) -> str:
    return " ".join((getattr(error, "problem", None) or str(error)).split())


def parse_override(text: str) -> dict[str, Any]:
    """`train.epochs=3` -> {"train": {"epochs": 3}}; the value is parsed as YAML."""
    if "=" not in text:
        raise InputError(f"--set {text!r}: expected key.path=value, for example train.epochs=3")
    path, raw = text.split("=", 1)
    if not all(path.strip().split(".")):
        raise InputError(f"--set {text!r}: {path!r} is not a setting path; write it as key.path, e.g. train.epochs")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as error:
        raise InputError(f"--set {text!r}: the value {raw!r} is not valid YAML ({_yaml_reason(error)}); "
                         "write a list as [1, 2] and put text with special characters in quotes") from None
    return nested(path, value)


@dataclass(frozen=True)
class Layer:
    """One source of settings: what it sets (nested mappings) and how a message names it."""

    source: str
    settings: dict[str, Any]


def sets(settings: Mapping[str, Any], location: Sequence[str | int]) -> bool:
    """Whether `settings` sets the value at `location` (a pydantic error location): it holds the
    whole path, or a value other than a mapping above it (`merge` replaces such a value whole)."""
    value: Any = settings
    for part in location:
        if not isinstance(value, Mapping):
            return True
        if part not in value:
            return False
        value = value[part]
    return True


def origin(layers: Sequence[Layer], location: Sequence[str | int]) -> str | None:
    """The source of the last layer that sets `location` (None: a default)."""
    return next((layer.source for layer in reversed(layers) if sets(layer.settings, location)), None)


def resolve_config(
    data: Path | None,
    preset: str | None = None,
    config_files: Sequence[Path] = (),
    overrides: tuple[str, ...] = (),
    options: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Build the run config from a preset, YAML files (merged in order) and overrides; `data` sets `data.path`.

    `options` maps dotted setting paths to the values of a command's own options (None: not
    given, so the setting keeps its resolved value). An invalid value raises InputError naming
    the setting and the source that set it.
    """
    layers: list[Layer] = []
    if preset is not None:
        layers.append(Layer(f"preset {preset!r}", preset_settings(preset)))
    layers += [Layer(str(path), read_yaml_mapping(path)) for path in config_files]
    layers += [Layer(f"--set {override}", parse_override(override)) for override in overrides]
    layers += [Layer("a command-line option", nested(path, value))
               for path, value in (options or {}).items() if value is not None]
    if data is not None:
        layers.append(Layer("--data", {"data": {"path": str(data)}}))
    settings: dict[str, Any] = {}
    for layer in layers:
        settings = merge(settings, layer.settings)
    if "data" not in settings:
        raise InputError("no corpus given: pass --data PATH (or set data.path in the config file)")
    try:
        return RunConfig.model_validate(settings)
    except ValidationError as error:
        raise InputError(f"invalid settings: {validation_message(error, lambda loc: origin(layers, loc))}") from None


def commented_yaml(model: BaseModel, indent: int = 0) -> str:
    """The model's values as YAML, each field preceded by its description as a comment."""
    lines: list[str] = []
    pad = "  " * indent
    values = model.model_dump(mode="json")
    for name, info in type(model).model_fields.items():
        if info.description:
            lines += [f"{pad}# {line}" for line in info.description.splitlines()]
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:")
            lines.append(commented_yaml(value, indent + 1))
            continue
        dumped = yaml.safe_dump({name: values[name]}, sort_keys=False, default_flow_style=False, width=100).rstrip()
        lines += [pad + line for line in dumped.splitlines()]
    return "\n".join(lines)
