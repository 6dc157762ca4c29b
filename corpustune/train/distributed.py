"""Data parallelism in training: gathers and gradient sums over the ranks of `corpustune.parallel`.

Each rank encodes its share of a step's queries and of its distinct passages. The passage
embeddings are all-gathered so every rank sees the step's whole distinct-passage table in the
same order as a single process would: InfoNCE negatives span all devices and the loss is the
same number. The gather's backward sums the incoming gradients over ranks and keeps the local
rows, so each embedding receives the gradient of the *global* loss; each rank's loss is its
queries' share divided by the global query count, and the parameter gradients are then summed
(not averaged) over ranks to give exactly the single-process gradient.

Why not wrap the model in `DistributedDataParallel`: with gradient caching the backward runs
chunk by chunk (a different number of chunks per rank), and DDP's reducer would have to be
silenced for all but one of them; models also carry unused parameters (BERT's pooler) that make
DDP's reducer fail or need the slow unused-parameter search. One flat all-reduce of the
gradients after the last chunk is what DDP computes, without those constraints.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from corpustune.parallel import Context


class _GatherRows(torch.autograd.Function):
    """Concatenate every rank's rows (uneven counts allowed); backward = sum over ranks, local slice."""

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        counts = torch.tensor([local.shape[0]], device=local.device)
        all_counts = [torch.zeros_like(counts) for _ in range(dist.get_world_size())]
        dist.all_gather(all_counts, counts)
        sizes = [int(c) for c in all_counts]
        padded = local.new_zeros((max(sizes), *local.shape[1:]))  # (max rows, d): all_gather needs equal shapes
        padded[: local.shape[0]] = local
        pieces = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(pieces, padded.contiguous())
        ctx.sizes = sizes
        ctx.rank = dist.get_rank()
        return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)])  # (sum rows, d)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # every rank's loss may use every row
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]]


def gather_rows(local: torch.Tensor, context: Context) -> torch.Tensor:
    """(n_local, d) -> (n_all, d) in rank order, differentiable; identity in a single process."""
    return _GatherRows.apply(local) if context.distributed else local


def all_reduce_gradients(parameters: list[torch.nn.Parameter], context: Context) -> None:
    """Sum the gradients of `parameters` over ranks in one flat buffer, leaving what one process would have.

    A parameter with a gradient on some rank counts 0 on the ranks without one. A parameter that
    no rank gave a gradient (BERT's pooler, say) keeps `grad = None`, so AdamW skips it, weight
    decay included, as it does in one process; a zero gradient would have it decayed.
    """
    if not context.distributed:
        return
    has_grad = torch.tensor([p.grad is not None for p in parameters], dtype=torch.int32, device=context.device)
    dist.all_reduce(has_grad, op=dist.ReduceOp.SUM)  # (n_params,) ranks that have each gradient
    used = [p for p, count in zip(parameters, has_grad.tolist()) if count > 0]
    if not used:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in used]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for parameter in used:
        size = parameter.numel()
        parameter.grad = flat[offset : offset + size].view_as(parameter).clone()
        offset += size


def sum_over_ranks(values: list[float], context: Context) -> list[float]:
    """Element-wise sum of a few floats over ranks (for logging global loss values)."""
    if not context.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def gather_objects(value: object, context: Context) -> list:
    """Every rank's `value` (picklable), in rank order, on every rank; `[value]` in a single process."""
    if not context.distributed:
        return [value]
    values: list = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values
