"""Seconds per stage from the workload and the calibrated rates, and what each stage reuses.

A stage the pipeline would skip costs nothing. Otherwise: generation = load + pending calls x
seconds per call; mining = per dense retriever load + corpus tokens (unless cached) + query
tokens, plus BM25 indexing; scoring = per teacher load + uncached pairs x seconds per pair
(`priors.DISTINCT_PAIR_PASSAGES` for a bi-encoder, which embeds each distinct passage once);
training = load + steps x seconds per step (the calibration step scaled to the run's step,
`priors.DISTINCT_SLOT_FRACTION`, `priors.GRAD_CACHE_FACTOR`) + dev loss and temperature
calibration as forward passes; selection and evaluation = one corpus encoding per model that
the embedding cache cannot give, and for selection the teachers' grading of the held-out queries'
pools (`priors.JUDGE_POOL_PAIRS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from corpustune.config import RunConfig
from corpustune.data.beir import qrels_file
from corpustune.estimate import priors
from corpustune.estimate.calibrate import Rates, encoder_key
from corpustune.estimate.workload import Workload
from corpustune.hardware import chunk_tokens
from corpustune.pipeline.runner import StagePlan
from corpustune.plural import counted


@dataclass(frozen=True)
class StageEstimate:
    """One row of the dry run's table."""

    name: str
    action: str
    reason: str
    work: str
    reuses: str
    seconds: float


def _n(work: Workload, value: float, counted_from: str) -> str:
    """A count, marked `~` unless the run folder gave the count it is made from (`counted_from`)."""
    return ("" if counted_from in work.measured else "~") + f"{round(value):,}"


def estimate_stages(config: RunConfig, plans: list[StagePlan], work: Workload, rates: Rates) -> list[StageEstimate]:
    """A StageEstimate per stage, in pipeline order."""
    rows = []
    for plan in plans:
        work_text, reuses, seconds = ESTIMATORS[plan.name](config, work, rates)
        if plan.action == "skip":
            seconds, reuses = 0.0, f"its outputs ({plan.reason})"
        rows.append(StageEstimate(plan.name, plan.action, plan.reason, work_text, reuses, seconds))
    return rows


def _generate(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    subset = config.generate.subset_size(work.types)
    types = f"{work.types} types" if subset is None else f"{subset} of {work.types} types (held out: all)"
    text = (f"{work.sampled:,} of {work.passages:,} passages ({work.heldout_passages:,} held out) x "
            f"{types}: {work.calls:,} calls")
    reused = work.calls - work.calls_pending
    reuses = f"{reused:,} calls from the generation log" if reused else "nothing"
    seconds = rates.generate_load_s + work.calls_pending * rates.generate_s_per_call if work.calls_pending else 0.0
    return text, reuses, seconds


def _corpus_encoding(rates: Rates, model: str, max_length: int | None, precision: str, prompt: str,
                     shared: set) -> tuple[float, bool]:
    """(seconds, reused) of encoding the corpus with one model; `shared` holds what an earlier
    stage of this run encodes (it is in the embedding cache by then)."""
    key = (encoder_key(model, max_length, precision), prompt)
    rate = rates.encoders[key[0]]
    if prompt in rate.cached_prompts or key in shared:
        return 0.0, True
    shared.add(key)
    return rate.corpus_tokens * rate.s_per_token, False


def _mine(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    mine = config.mine
    retrievers = (["BM25"] if mine.bm25 else []) + [d.model for d in mine.dense]
    text = (f"{' + '.join(retrievers)} over {work.passages:,} passages; "
            f"{_n(work, work.train_queries, 'train_queries')} training queries -> "
            f"{_n(work, work.lists, 'lists')} lists of {mine.list_size}")
    seconds, cached, shared = work.passages * rates.bm25_s_per_passage, [], set()
    for dense in mine.dense:
        rate = rates.encoders.get(encoder_key(dense.model, dense.max_seq_length, dense.precision))
        if rate is None:
            return text, "nothing", 0.0  # not calibrated: the stage is skipped
        corpus, reused = _corpus_encoding(rates, dense.model, dense.max_seq_length, dense.precision,
                                           dense.passage_prompt, shared)
        cached += [dense.model] if reused else []
        seconds += rate.load_s + corpus + work.train_queries * priors.QUERY_TOKENS * rate.s_per_token
    reuses = f"cached corpus embeddings of {', '.join(cached)}" if cached else "nothing"
    return text, reuses, seconds


def _score(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    kinds = " + ".join(t.kind + (f":{t.model}" if t.model else "") for t in config.score.teachers)
    text = f"{kinds} on {_n(work, work.pairs, 'lists')} pairs; {_n(work, work.kept_lists, 'kept_lists')} lists kept"
    seconds = 0.0
    for spec, rate in zip(config.score.teachers, rates.teachers):
        distinct = priors.DISTINCT_PAIR_PASSAGES if spec.kind == "biencoder" else 1.0
        seconds += rate.load_s + max(0.0, work.pairs - rate.cached_pairs) * distinct * rate.s_per_pair
    cached = sum(rate.cached_pairs for rate in rates.teachers)
    return text, f"{cached:,} teacher scores from the score cache" if cached else "nothing", seconds


def _chunk_tokens(setting: int | str) -> int:
    """The chunk budget training will use on this machine (its GPU when it has one, as the trainer)."""
    import torch

    return chunk_tokens(setting, "cuda" if torch.cuda.is_available() else "cpu")


def _arm_seconds(config: RunConfig, work: Workload, rates: Rates, arm: str) -> float:
    """One loss arm: load, steps, dev loss each epoch, teacher-temperature calibration if it needs one."""
    train = config.train.model_copy(update={"loss": arm})
    lists = min(train.queries_per_step, work.training_lists)
    slots = lists * train.list_size * priors.DISTINCT_SLOT_FRACTION
    factor = priors.GRAD_CACHE_FACTOR if train.grad_cache is not False and (
        slots * train.passage_max_tokens > _chunk_tokens(train.chunk_tokens)) else 1.0
    per_list = rates.train_s_per_list * priors.DISTINCT_SLOT_FRACTION
    steps = work.epochs * work.training_lists * per_list * factor  # every list once per epoch
    forward = per_list * priors.FORWARD_SHARE
    dev = work.epochs * work.dev_lists * forward
    calibration = 0.0
    if train.teacher_temperature == "auto" and train.loss_weights()[0] > 0:
        calibration = min(work.training_lists, train.calibration_lists) * forward
    return rates.train_load_s + steps + dev + calibration


def _train(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    train = config.train
    text = (f"{train.model}, {train.loss}: {_n(work, work.training_lists, 'kept_lists')} lists "
            f"(+{_n(work, work.dev_lists, 'kept_lists')} dev), "
            f"{counted(work.epochs, 'epoch')} x {work.steps_per_epoch} steps of {train.queries_per_step} = "
            f"at most {work.steps} steps")
    return text, "nothing", _arm_seconds(config, work, rates, train.loss) if rates.train_s_per_list else 0.0


def _ablation_arms(config: RunConfig) -> list[str]:
    from corpustune.train.arms import ablation_arms

    return ablation_arms(config.train.loss, config.ablation)


def _ablation(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    arms = _ablation_arms(config)
    if not arms:
        return "no ablation arms", "nothing", 0.0
    text = f"{', '.join(arms)}: {work.steps} steps each"
    seconds = sum(_arm_seconds(config, work, rates, arm) for arm in arms) if rates.train_s_per_list else 0.0
    return text, "nothing", seconds


def select_weights(config: RunConfig, work: Workload) -> list[float]:
    """The interpolation weights the select stage evaluates (0 and 1 alone when nothing decides)."""
    dev = config.select.dev_split
    deciding = work.heldout_queries > 0 or (dev is not None and _has_split(config, dev))
    return sorted(set(config.select.weights) | {0.0, 1.0}) if deciding else [0.0, 1.0]


def _has_split(config: RunConfig, split: str) -> bool:
    return config.data.path.is_dir() and qrels_file(config.data.path, split).exists()


def _select(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    train = config.train
    weights = select_weights(config, work)
    text = f"{len(weights)} interpolation weights ({', '.join(f'{w:g}' for w in weights)}): one corpus encoding each"
    rate = rates.encoders.get(encoder_key(train.model, None, config.evaluate.precision))
    if rate is None:
        return text, "nothing", 0.0
    shared = {(encoder_key(d.model, d.max_seq_length, d.precision), d.passage_prompt) for d in config.mine.dense}
    base, reused = _corpus_encoding(rates, train.model, None, config.evaluate.precision, train.passage_prompt,
                                      shared)
    seconds = 2 * rate.load_s + base + (len(weights) - 1) * rate.corpus_tokens * rate.s_per_token
    if _judged_by_teacher(config, work):
        pairs = work.heldout_queries * priors.JUDGE_POOL_PAIRS
        text += f"; the teachers grade ~{round(pairs):,} pooled pairs"
        for spec, rate in zip(config.score.teachers, rates.teachers):
            distinct = priors.JUDGE_DISTINCT_PASSAGES if spec.kind == "biencoder" else 1.0
            seconds += rate.load_s + pairs * distinct * rate.s_per_pair
    return text, "the base model's corpus embeddings (cache)" if reused else "nothing", seconds


def _judged_by_teacher(config: RunConfig, work: Workload) -> bool:
    """Whether the teachers grade held-out queries in the select stage (they decide, no dev split)."""
    dev = config.select.dev_split
    return (config.select.judge == "teacher" and work.heldout_queries > 0
            and not (dev is not None and _has_split(config, dev)))


def _evaluate(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    arms = _ablation_arms(config)
    text = "base, tuned, published" + "".join(f", {arm}" for arm in arms)
    rate = rates.encoders.get(encoder_key(config.train.model, None, config.evaluate.precision))
    if rate is None:
        return text, "the select stage's measurements", 0.0
    seconds = len(arms) * (rate.load_s + rate.corpus_tokens * rate.s_per_token)
    return text, "the select stage's measurements of base, tuned and published", seconds


def _report(config: RunConfig, work: Workload, rates: Rates) -> tuple[str, str, float]:
    return "report.html, report.md, figures", "nothing", priors.REPORT_SECONDS


ESTIMATORS = {"generate": _generate, "mine": _mine, "score": _score, "train": _train, "ablation": _ablation,
              "select": _select, "evaluate": _evaluate, "report": _report}
