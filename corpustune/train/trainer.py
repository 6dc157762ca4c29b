"""The training loop: AdamW, warmup then linear decay to a floor, clipping, dev loss, early
stopping, resumable checkpoints, data parallelism, and export of the best model.

Why a compact own loop instead of `SentenceTransformerTrainer` / HF `Trainer`: their losses see
one row of text columns per example and encode every column of every row, so a passage that
several lists share is encoded once per list; the whole point of our step is to encode each
distinct passage once, gather the (queries x list) matrix, cache gradients over the full step
and gather passages across ranks. That step does not fit the Trainer's per-example collate +
`compute_loss` contract, and the remaining Trainer services (schedule, clipping, checkpoints)
are a few dozen lines here, with an exact resume we can test.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from corpustune.data.atomic import JsonlAppender, read_jsonl_log, write_json_atomic, write_jsonl_atomic
from corpustune.data.records import Passage
from corpustune.data.sealed import folder_problem, quarantine
from corpustune.errors import InputError
from corpustune.hardware import chunk_tokens, synchronize, use_bf16
from corpustune.models import resolve_model
from corpustune.parallel import Context, barrier, init_distributed
from corpustune.train.batching import Example, epoch_steps, make_batch
from corpustune.train.calibrate import matched_teacher_temperature, mean_softmax_entropy
from corpustune.train.checkpoint import latest_checkpoint, load_checkpoint, rng_state, save_checkpoint
from corpustune.train.config import TrainConfig
from corpustune.train.distributed import all_reduce_gradients, gather_objects, sum_over_ranks
from corpustune.train.export import save_student
from corpustune.train.gradcache import StepEncoder, StepResult, TextSide, run_step
from corpustune.train.losses import CombinedLoss, list_cosines


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint."""

    global_step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0  # steps of `epoch` already done
    best_dev_loss: float | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    history: list[dict] = field(default_factory=list)
    teacher_temperature: float | None = None  # the calibrated tau_T when the config says auto


def trim_log(path: Path, step: int) -> None:
    """Keep only the records of steps up to `step` (the checkpoint a run resumes from; 0 for a
    fresh start) in the training log `path`: steps done after that checkpoint, or by an attempt
    that never reached one, are done again, and the log must hold each step once."""
    if not path.exists():
        return
    records = list(read_jsonl_log(path))
    kept = [record for record in records if record.get("step", 0) <= step]
    if len(kept) < len(records):
        write_jsonl_atomic(path, kept)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_student(config: TrainConfig, device: torch.device):
    """The student in fp32 with every dropout layer set to `config.dropout` (the paper trains with 0).

    fp32 whatever dtype the checkpoint was saved in: transformers loads a bf16 checkpoint as bf16,
    and bf16 master weights would round away every update smaller than 2**-8 of a weight (bf16
    training means autocast over fp32 weights, `corpustune.hardware.auto_is_bf16`).
    """
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(config.model, "embedding"), device=str(device),
                                trust_remote_code=config.trust_remote_code)
    model.float()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = config.dropout
    return model


def make_optimizer(model, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; biases and normalization weights (1-D tensors) get no weight decay, as in HF Trainer."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )


def schedule(total_steps: int, warmup_steps: int, floor: float) -> Callable[[int], float]:
    """Multiplier of the peak rate at optimizer step `s` (0-based): linear warmup, then linear
    decay reaching `floor` at `total_steps`."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        remaining = max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
        return floor + (1.0 - floor) * remaining

    return factor


def config_digest(config: TrainConfig, train: Sequence[Example]) -> str:
    digest = hashlib.sha256(config.model_dump_json().encode())
    for example in train:
        digest.update(f"{example.query_id}\0{example.passage_ids}\0{example.teacher_scores}\n".encode())
    return digest.hexdigest()[:16]


class Trainer:
    """Trains a student on `train` examples, tracking dev loss on `dev`; writes under `out`.

    `callbacks` are called as `callback(trainer, step_result)` after each optimizer step.
    """

    def __init__(
        self,
        config: TrainConfig,
        train: Sequence[Example],
        dev: Sequence[Example],
        passages: dict[str, Passage],
        out: Path,
        model_dir: Path | None = None,
        *,
        context: Context | None = None,
        callbacks: Sequence[Callable] = (),
        data_card: dict | None = None,
        show_progress: bool = True,
    ):
        if not train:
            raise ValueError("no training examples")
        self.config = config
        self.train_examples = list(train)
        self.dev_examples = list(dev)
        self.passage_texts = {p.id: p.full_text() for p in passages.values()}
        self.out = Path(out)
        self.model_dir = Path(model_dir) if model_dir is not None else self.out / "best"
        self.context = context or init_distributed()
        self.callbacks = list(callbacks)
        self.data_card = data_card or {}
        self.show_progress = show_progress and self.context.is_main
        seed_everything(config.seed)
        self.model = load_student(config, self.context.device)
        self.model.train()
        self.document_model, self.passage_table = None, None
        if config.tune == "query":  # the base model encodes every passage, once; it is saved as the document route
            self._freeze_document_side(list(passages.values()))
        autocast = torch.bfloat16 if use_bf16(config.precision, self.context.device) else None
        budget = chunk_tokens(config.chunk_tokens, self.context.device)
        self.encoder = StepEncoder(self.model, self.context.device, budget, autocast)
        self.loss_fn: CombinedLoss | None = None  # built by prepare_loss, after a resume restores the state
        self.query_side = TextSide(config.query_prompt, config.query_max_tokens)
        self.passage_side = TextSide(config.passage_prompt, config.passage_max_tokens)
        self.parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(self.model, config)
        self.steps_per_epoch = math.ceil(len(self.train_examples) / config.queries_per_step)
        self.total_steps = config.epochs * self.steps_per_epoch
        warmup = round(config.warmup_epochs * self.steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, schedule(self.total_steps, warmup, config.decay_floor)
        )
        self.digest = config_digest(config, self.train_examples)
        self.state = LoopState()

    def _freeze_document_side(self, corpus: list[Passage]) -> None:
        from corpustune.retrieve.encode import EmbeddingCache, load_encoder
        from corpustune.train.document_side import base_passage_table

        config = self.config
        self.document_model = load_encoder(config.model, device=str(self.context.device),
                                           trust_remote_code=config.trust_remote_code)
        self.document_model.requires_grad_(False)
        needed = {p for example in (*self.train_examples, *self.dev_examples) for p in example.passage_ids}
        self.passage_table = base_passage_table(self.document_model, corpus, needed, prompt=config.passage_prompt,
                                                cache=EmbeddingCache().sharded(self.context),
                                                device=self.context.device,
                                                bf16=use_bf16(config.precision, self.context.device))

    def fixed_passages(self, passage_ids) -> torch.Tensor | None:
        """(P, d) base embeddings of `passage_ids` under query-side tuning, else None (they are encoded)."""
        return None if self.passage_table is None else self.passage_table.take(passage_ids)

    def exported_model(self):
        """The model to save: the student, or under query-side tuning one folder that routes queries
        through the student and documents through the untouched base model."""
        if self.document_model is None:
            return self.model
        from corpustune.models.routed import query_document_model

        return query_document_model(self.model, self.document_model)

    # -- the loss, with a calibrated teacher temperature -----------------------------------

    def prepare_loss(self) -> CombinedLoss:
        """Build the loss once. `teacher_temperature: auto` is calibrated on the current model, the
        untrained student, unless the state already holds the value (a resumed run restores it
        from its checkpoint, so a resume never recalibrates on half-trained weights)."""
        if self.loss_fn is None:
            calibrate = self.config.teacher_temperature == "auto" and self.config.loss_weights()[0] > 0
            if calibrate and self.state.teacher_temperature is None:
                value = self._calibrate_teacher_temperature() if self.context.is_main else 0.0
                self.state.teacher_temperature = sum_over_ranks([value], self.context)[0]  # rank 0's value
            self.loss_fn = CombinedLoss.from_config(self.config, self.state.teacher_temperature if calibrate else None)
        return self.loss_fn

    def _calibrate_teacher_temperature(self) -> float:
        """tau_T at which the teacher is as sharp as the student on (a seeded sample of) the training lists."""
        sample = list(self.train_examples)
        if len(sample) > self.config.calibration_lists:
            sample = random.Random(self.config.seed).sample(sample, self.config.calibration_lists)
        batch = make_batch(sample)
        self.model.eval()
        with torch.no_grad():
            query_chunks = self.encoder.chunks(batch.query_texts, self.query_side)
            queries, _ = self.encoder.embed(batch.query_texts, query_chunks, self.query_side)  # (Q, d)
            passages = self.fixed_passages(batch.passage_ids)  # (P, d)
            if passages is None:
                passage_texts = [self.passage_texts[p] for p in batch.passage_ids]
                passage_chunks = self.encoder.chunks(passage_texts, self.passage_side)
                passages, _ = self.encoder.embed(passage_texts, passage_chunks, self.passage_side)
        self.model.train()
        cosines = list_cosines(queries, passages, batch.list_index.to(passages.device)).cpu().numpy()  # (Q, L)
        teacher, valid = batch.teacher_scores.numpy(), batch.valid.numpy()
        value = matched_teacher_temperature(cosines, teacher, valid, self.config.student_temperature)
        entropy = mean_softmax_entropy(cosines / self.config.student_temperature, valid)
        print(
            f"teacher temperature {value:.4f}: teacher as sharp as the student "
            f"(mean entropy {entropy:.3f} nats over {len(sample):,} training lists)"
        )
        return value

    # -- one step -------------------------------------------------------------------------

    def step(self, examples: Sequence[Example]) -> StepResult:
        """One optimizer step on `examples` (the global step's queries; each rank takes its share)."""
        self.prepare_loss()
        self.optimizer.zero_grad(set_to_none=True)
        batch = make_batch(examples)
        result = run_step(
            self.encoder, self.loss_fn, batch, self.passage_texts, self.query_side, self.passage_side, self.context,
            train=True, grad_cache=self.config.grad_cache, fixed_passages=self.fixed_passages(batch.passage_ids),
        )
        all_reduce_gradients(self.parameters, self.context)
        torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return result

    def dev_loss(self) -> float | None:
        """Mean loss per dev query, in steps of the training step size, without gradients."""
        if not self.dev_examples:
            return None
        self.prepare_loss()
        total = 0.0
        size = self.config.queries_per_step
        for start in range(0, len(self.dev_examples), size):
            batch = make_batch(self.dev_examples[start : start + size])
            result = run_step(
                self.encoder, self.loss_fn, batch, self.passage_texts, self.query_side, self.passage_side,
                self.context, train=False, fixed_passages=self.fixed_passages(batch.passage_ids),
            )
            total += result.loss * batch.num_queries
        return total / len(self.dev_examples)

    # -- the loop -------------------------------------------------------------------------

    def train(self, resume: bool = True) -> LoopState:
        """Run (or resume) to the last epoch or early stop; the best model ends in `model_dir`."""
        checkpoints = self.out / "checkpoints"
        if not resume and self.context.is_main:  # a fresh start must not mix with an older run's files
            shutil.rmtree(checkpoints, ignore_errors=True)
            (self.out / "log.jsonl").unlink(missing_ok=True)
        barrier(self.context)
        # rank 0 checks the seals (and moves a damaged checkpoint aside) before the others look
        found = self._resumable(checkpoints) if resume and self.context.is_main else None
        barrier(self.context)
        if resume and not self.context.is_main:
            found = latest_checkpoint(checkpoints)
        if found is not None:
            try:
                loop = load_checkpoint(found, self.model, self.optimizer, self.scheduler, self.context.device,
                                       self.context.rank)
            except InputError:
                raise
            except Exception as error:  # sealed intact, so not damage: another version's or model's checkpoint
                raise InputError(f"{found}: intact but cannot be loaded into this model ({type(error).__name__}: "
                                 f"{error}); restart training (`corpustune train --restart`, or delete "
                                 f"{checkpoints})") from error
            if loop.get("digest") != self.digest:
                raise InputError(f"{found} was made with other settings or data; pass a new run folder or restart "
                                 f"training (`corpustune train --restart`, or delete {checkpoints})")
            self.state = LoopState(**{k: v for k, v in loop.items() if k != "digest"})
            self.loss_fn = None
        self.prepare_loss()
        log = None
        if self.context.is_main:
            trim_log(self.out / "log.jsonl", self.state.global_step)
            log = JsonlAppender(self.out / "log.jsonl")
        progress = tqdm(
            total=self.total_steps, initial=self.state.global_step, desc="training", unit="step",
            disable=not self.show_progress,
        )
        try:
            while self.state.epoch < self.config.epochs and not self.state.stopped_early:
                self._run_epoch(log, progress, checkpoints)
        finally:
            progress.close()
            if log is not None:
                log.close()
        if self.state.best_dev_loss is None:  # no dev set: the last weights are the result
            self._save_best()
        self._publish()
        return self.state

    def _resumable(self, checkpoints: Path) -> Path | None:
        """The newest checkpoint, intact (`latest_checkpoint`), with the best model it counts on:
        a checkpoint past a dev evaluation resumes with `best/` as its best model so far, so a
        damaged `best/` is moved aside with the checkpoint and training starts again from step 0."""
        found = latest_checkpoint(checkpoints)
        if found is None or json.loads((found / "loop.json").read_text()).get("best_dev_loss") is None:
            return found
        best = self.out / "best"
        problem = folder_problem(best) if best.is_dir() else "missing"
        if problem is None:
            return found
        if best.is_dir():
            quarantine(best, problem, "training starts again from step 0")
        quarantine(found, f"its best model so far, {best}, is damaged or missing", "training starts again from step 0")
        (checkpoints / "latest").unlink()
        return None

    def _run_epoch(self, log, progress, checkpoints: Path) -> None:
        config, state = self.config, self.state
        steps = epoch_steps(len(self.train_examples), config.queries_per_step, config.seed, state.epoch)
        while state.step_in_epoch < len(steps):
            started = time.perf_counter()
            rate = self.scheduler.get_last_lr()[0]  # the rate this step uses
            result = self.step([self.train_examples[i] for i in steps[state.step_in_epoch]])
            synchronize(self.context.device)  # the optimizer's CUDA kernels are still queued: count them here
            state.step_in_epoch += 1
            state.global_step += 1
            if log is not None:
                log.append_many([{
                    "step": state.global_step, "epoch": state.epoch, "loss": result.loss,
                    "listwise": result.listwise, "infonce": result.infonce,
                    "lr": rate, "queries": result.num_queries,
                    "distinct_passages": result.distinct_passages, "passage_slots": result.passage_slots,
                    "seconds": round(time.perf_counter() - started, 4),
                }])
            progress.update(1)
            progress.set_postfix(loss=f"{result.loss:.4f}")
            end_of_epoch = state.step_in_epoch == len(steps)
            if (config.eval_every_steps and state.global_step % config.eval_every_steps == 0) or (
                end_of_epoch and not config.eval_every_steps
            ):
                self._evaluate(log)
            if end_of_epoch:
                state.epoch += 1
                state.step_in_epoch = 0
            if end_of_epoch or state.stopped_early or state.global_step % config.checkpoint_every_steps == 0:
                self._checkpoint(checkpoints)
            for callback in self.callbacks:
                callback(self, result)
            if state.stopped_early or end_of_epoch:
                return

    def _evaluate(self, log) -> None:
        state = self.state
        loss = self.dev_loss()
        if loss is None:
            return
        record = {"epoch": state.epoch, "step": state.global_step, "dev_loss": loss}
        state.history.append(record)
        if log is not None:
            log.append_many([record])
        if state.best_dev_loss is None or loss < state.best_dev_loss:
            state.best_dev_loss = loss
            state.evals_without_improvement = 0
            self._save_best()
        else:
            state.evals_without_improvement += 1
            state.stopped_early = state.evals_without_improvement >= self.config.patience

    def _checkpoint(self, checkpoints: Path) -> None:
        rng_states = gather_objects(rng_state(), self.context)  # each rank resumes its own random streams
        if self.context.is_main:
            loop = {**self.state.__dict__, "digest": self.digest}
            save_checkpoint(checkpoints, self.model, self.optimizer, self.scheduler, loop, rng_states)
        barrier(self.context)

    def _card(self) -> dict:
        return {
            "base_model": self.config.model,
            "settings": self.config.model_dump(),
            "data": {
                "training queries": f"{len(self.train_examples):,}",
                "dev queries": f"{len(self.dev_examples):,}",
                "optimizer steps": f"{self.state.global_step:,}",
                "best dev loss": "n/a" if self.state.best_dev_loss is None else f"{self.state.best_dev_loss:.5f}",
                **(
                    {"teacher temperature (auto)": f"{self.state.teacher_temperature:.4f}"}
                    if self.state.teacher_temperature is not None
                    else {}
                ),
                **(
                    {"document side": f"the base model `{self.config.model}`, unchanged: existing document "
                                      "embeddings stay valid (train.tune: query)"}
                    if self.document_model is not None
                    else {}
                ),
                **self.data_card,
            },
            "history": self.state.history,
        }

    def _save_best(self) -> None:
        if self.context.is_main:
            save_student(
                self.exported_model(), self.out / "best", query_prompt=self.config.query_prompt,
                passage_prompt=self.config.passage_prompt, card=self._card(), sealed=True,
            )
        barrier(self.context)

    def _publish(self) -> None:
        """Copy the best model to `model_dir` with a card that has the final history."""
        if self.context.is_main:
            from sentence_transformers import SentenceTransformer

            best = SentenceTransformer(
                str(self.out / "best"), device="cpu", trust_remote_code=self.config.trust_remote_code
            )
            save_student(
                best, self.model_dir, query_prompt=self.config.query_prompt,
                passage_prompt=self.config.passage_prompt, card=self._card(),
            )
            write_json_atomic(self.out / "state.json", {**self.state.__dict__, "digest": self.digest})
        barrier(self.context)
