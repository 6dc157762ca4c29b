"""Training settings: the paper's defaults (Tamber et al. 2025, arXiv 2505.19274), every number a field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from corpustune.hardware import Precision

LossArm = Literal["listwise", "infonce", "combined"]


class TrainConfig(BaseModel):
    """Everything that decides what a training run computes; saved with the run and the model card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("minilm", description="Student: packaged alias, local sentence-transformers folder or hub id.")
    loss: LossArm = Field("combined", description="Ablation arm: listwise only, InfoNCE only, or both.")
    tune: Literal["both", "query"] = Field(
        "both",
        description="both: one tuned encoder for queries and passages (the paper); query: only the query encoder is "
        "trained, against the base model's passage embeddings, and the saved model encodes documents with the base "
        "model bit for bit, so an existing index stays valid.",
    )
    student_temperature: float = Field(0.05, gt=0, description="tau_S: softmax temperature of student cosines (listwise).")
    teacher_temperature: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
        0.3,
        description="tau_T: softmax temperature of normalized teacher scores; auto = as sharp as the untrained "
        "student's distributions over the training lists (corpustune.train.calibrate).",
    )
    calibration_lists: int = Field(
        2000, ge=1, description="teacher_temperature auto: at most this many training lists (a seeded sample)."
    )
    infonce_temperature: float = Field(0.01, gt=0, description="tau: InfoNCE temperature on cosines.")
    listwise_weight: float = Field(1.0, ge=0, description="w_list in L = w_list L_list + w_nce L_nce (combined arm).")
    infonce_weight: float = Field(0.1, ge=0, description="w_nce in L = w_list L_list + w_nce L_nce (combined arm).")
    mask_fraction: float = Field(
        0.6, ge=0, description="A list passage with teacher score > this x its query's top score is no InfoNCE negative."
    )
    learning_rate: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0, description="Clip the global gradient norm to this.")
    warmup_epochs: float = Field(0.5, ge=0, description="Linear warmup length, in epochs.")
    decay_floor: float = Field(0.1, ge=0, le=1, description="After warmup the rate decays linearly to this x lr.")
    epochs: int = Field(30, ge=1, description="Upper bound; early stopping usually ends sooner.")
    patience: int = Field(2, ge=1, description="Stop after this many dev evaluations without improvement.")
    dev_fraction: float = Field(0.1, ge=0, lt=1, description="Share of source passages whose queries form the dev set.")
    eval_every_steps: int = Field(0, ge=0, description="Dev loss every N optimizer steps; 0 = once per epoch.")
    queries_per_step: int = Field(64, ge=1, description="Queries per optimizer step (the effective batch, all ranks).")
    list_size: int = Field(
        20, ge=2, description="Passages per query list (positive first); longer lists are cut. At least 2: a list "
        "of one passage gives every listwise loss 0.",
    )
    chunk_tokens: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="Gradient caching: padded tokens per encoder chunk (bounds activation memory); auto = 16384 on "
        "GPUs, 32768 on CPUs (corpustune.hardware.default_chunk_tokens).",
    )
    grad_cache: bool | None = Field(
        None, description="Force gradient caching on/off; None = on only when a step's texts exceed one chunk."
    )
    query_max_tokens: int = Field(64, ge=4)
    passage_max_tokens: int = Field(512, ge=4)
    query_prompt: str = Field("", description="Text put before every query (recorded in the saved model).")
    passage_prompt: str = Field("", description="Text put before every passage (recorded in the saved model).")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout of every dropout layer (the paper trains with 0).")
    seed: int = 13
    checkpoint_every_steps: int = Field(50, ge=1, description="Write a resumable checkpoint every N steps.")
    precision: Precision = Field(
        "auto",
        description="auto = bf16 autocast on GPUs with bf16 support and on CPUs with native bf16 instructions "
        "(avx512_bf16 or amx_bf16), fp32 elsewhere; weights, gradients and optimizer state stay fp32.",
    )
    trust_remote_code: bool = False

    def loss_weights(self) -> tuple[float, float]:
        """(w_list, w_nce) of the selected arm: an arm that leaves a term out gives it weight 0."""
        if self.loss == "listwise":
            return self.listwise_weight, 0.0
        if self.loss == "infonce":
            return 0.0, 1.0
        return self.listwise_weight, self.infonce_weight
