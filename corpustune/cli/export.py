"""`corpustune export RUN`: the published model as an ONNX or OpenVINO folder for CPU serving."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from corpustune.layout import RunLayout


def command(
    run: Annotated[Path, typer.Argument(help="Run folder whose published model (RUN/model) is exported.")],
    form: Annotated[str, typer.Option("--format", help="onnx (onnxruntime) or openvino.")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="int8: 8-bit weights (onnx only).")] = None,
    model: Annotated[
        Path | None, typer.Option(help="Export this sentence-transformers folder instead of RUN/model.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default RUN/export/<format>[-int8]).")] = None,
    trust_remote_code: Annotated[bool, typer.Option(help="Run code shipped with the model.")] = False,
) -> None:
    """Export RUN/model and check that the exported model embeds as the torch model does. Holds the
    run folder's lock while it reads RUN/model or writes RUN/export."""
    from corpustune.export import check_export, export_model
    from corpustune.pipeline.runner import run_lock

    layout = RunLayout(run)
    source = model or layout.model_dir
    target = out or layout.export_dir(form, quantize)
    check_export(source, target, form=form, quantize=quantize)
    with run_lock(run) if model is None or out is None else nullcontext():
        result = export_model(source, target, form=form, quantize=quantize,  # type: ignore[arg-type]
                              trust_remote_code=trust_remote_code)
    print(f"exported {source} as {form}{' ' + quantize if quantize else ''} to {result.folder} "
          f"({result.size_bytes / 1e6:,.1f} MB)")
    print(f"agreement with the torch model: max |difference| {result.max_abs_diff:.2e}, "
          f"smallest cosine {result.min_cosine:.6f}")
    print(f'load it: ExportedEncoder("{result.folder}").encode(texts, prompt_name="document")  '
          "(from corpustune.export.runtime import ExportedEncoder)")
