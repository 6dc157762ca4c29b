"""Asymmetric models: queries through one encoder, documents through another, in one
sentence-transformers folder (its `Router` module with a "query" and a "document" route).

corpustune makes one when only the query side is tuned (`train.tune: query`): the document route
is the base model untouched, so every document embedding already stored in an index stays valid.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["query", "document"]


def _router(model):
    from sentence_transformers.base.modules.router import Router

    first = model[0] if len(model) else None
    return first if isinstance(first, Router) else None


def is_routed(model) -> bool:
    """Whether `model` routes queries and documents through different modules."""
    return _router(model) is not None


def route(model, task: Task):
    """The plain SentenceTransformer that encodes `task` texts for `model`: a routed model's route
    (sharing its modules, so no weights are copied), any other model itself."""
    from sentence_transformers import SentenceTransformer

    router = _router(model)
    if router is None:
        return model
    routed = SentenceTransformer(modules=list(router.sub_modules[task]), device=str(model.device))
    routed.similarity_fn_name = model.similarity_fn_name
    return routed


def query_document_model(query_model, document_model):
    """One SentenceTransformer encoding queries with `query_model` and documents with
    `document_model` (`encode_query` / `encode_document`; plain `encode` takes the document route,
    as sentence-transformers' `Router.for_query_document` does). Shares their modules."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.router import Router

    router = Router.for_query_document(list(route(query_model, "query")), list(route(document_model, "document")))
    model = SentenceTransformer(modules=[router], device=str(query_model.device))
    model.similarity_fn_name = document_model.similarity_fn_name
    return model
