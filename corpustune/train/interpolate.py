"""Weight interpolation between the base student and the tuned one (WiSE-FT, Wortsman et al. 2022).

theta(a) = (1 - a) * theta_base + a * theta_tuned, tensor by tensor: a = 0 is the base model, a = 1
the tuned one, and values between keep part of the base model's general ability while taking
part of the tuning. Both models must have the same architecture (every tensor name and shape);
tensors that are not floating point (position ids, token type ids) must be equal and are kept.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from corpustune.errors import InputError


def interpolate_state(base: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor],
                      weight: float) -> dict[str, torch.Tensor]:
    """(1 - weight) * base + weight * tuned for each floating tensor, in that tensor's dtype.

    a = 0 returns the base tensors' values exactly and a = 1 the tuned ones' (1 * x + 0 * y = x in
    floating point for finite y). Raises InputError naming the first tensor that differs in name,
    shape or (for integer tensors) value.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"interpolation weight must be in [0, 1], got {weight}")
    if set(base) != set(tuned):
        missing = sorted(set(base) ^ set(tuned))
        raise InputError(f"cannot interpolate models of different architectures: tensor names differ ({missing[:3]})")
    mixed = {}
    for name, tuned_tensor in tuned.items():
        base_tensor = base[name].to(tuned_tensor.device)
        if base_tensor.shape != tuned_tensor.shape:
            raise InputError(f"cannot interpolate: tensor {name!r} has shape {tuple(base_tensor.shape)} in the base "
                             f"model and {tuple(tuned_tensor.shape)} in the tuned one")
        if tuned_tensor.is_floating_point():
            mixed[name] = (1.0 - weight) * base_tensor.to(tuned_tensor.dtype) + weight * tuned_tensor
        elif torch.equal(base_tensor, tuned_tensor):
            mixed[name] = tuned_tensor.clone()
        else:
            raise InputError(f"cannot interpolate: the non-float tensor {name!r} differs between the models")
    return mixed


def interpolated_model(base, tuned, weight: float):
    """A copy of the SentenceTransformer `tuned` (prompts, pooling, tokenizer) whose weights are
    interpolated with those of `base` at `weight`. A query-tuned `tuned` (queries and documents
    routed apart) has its query route interpolated; its document route, the base model, is kept."""
    import copy

    from corpustune.models.routed import is_routed, query_document_model, route

    if is_routed(tuned):
        query = interpolated_model(route(base, "query"), route(tuned, "query"), weight)
        mixed = query_document_model(query, route(tuned, "document"))
        mixed.prompts = dict(tuned.prompts)
        return mixed
    model = copy.deepcopy(tuned)
    model.load_state_dict(interpolate_state(base.state_dict(), tuned.state_dict(), weight))
    return model
