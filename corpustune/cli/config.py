"""`corpustune config`: print the full, commented settings of a preset to start a custom config from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def command(
    preset: Annotated[str, typer.Option(help="Preset to print.")] = "laptop",
    data: Annotated[Path, typer.Option("--data", help="Corpus path written into the config.")] = Path("PATH/TO/CORPUS"),
) -> None:
    """Print every setting of a preset as YAML with comments; edit it and pass it with --config."""
    from corpustune.config import commented_yaml, resolve_config

    settings = resolve_config(data, preset)
    print(f"# corpustune settings, preset {preset!r}; use with: corpustune run --config THIS_FILE")
    print(commented_yaml(settings))
