"""Turn a model argument into something a loader can open, or one line that says why it cannot.

A model argument is one of:
- an alias of a packaged model (`minilm`, `qwen-coder-0.5b`, ...; see `registry.PACKAGED_MODELS`);
- a local file or folder;
- a Hugging Face hub id (`org/name`), returned unchanged for the loader to fetch; for a GGUF file
  (llama.cpp) `org/name:FILE.gguf` (FILE may be a glob pattern such as `*q4_k_m.gguf`), which is
  downloaded into the Hugging Face cache on first use.

Given the role the model is asked for (`ROLES`), an alias of the wrong kind, a folder where a
GGUF file is needed or a file that is not GGUF fails at once with the aliases that fit; a local
folder or file (an installed alias's too) is opened far enough to know it loads
(`corpustune.models.check`). A hub id
is checked with one metadata request: when the hub cannot be reached (or `HF_HUB_OFFLINE` is
set) a model already in the Hugging Face cache is used from there, and any other fails at once
instead of after the loaders' retries.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import re
import shutil
import site
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from corpustune.errors import ModelNotFoundError
from corpustune.models.check import check_gguf, check_model_folder
from corpustune.models.registry import PACKAGED_MODELS, ModelKind, PackagedModel

CACHE_ENV = "CORPUSTUNE_CACHE"
CHUNK = 1 << 20
HUB_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Role:
    """What a model is asked for: `needs` says it to the user; `kinds` are the packaged kinds
    that fit; `file` is True when only a GGUF file fits and False when only a folder or hub id
    does (None: either); `weights` is False when only the tokenizer is read."""

    needs: str
    kinds: tuple[ModelKind, ...]
    file: bool | None
    weights: bool = True


ROLES = {
    "embedding": Role("an embedding model (a sentence-transformers folder or hub id)",
                      ("sentence-transformers",), False),
    "tokenizer": Role("a model with a Hugging Face tokenizer (a folder or hub id)", ("sentence-transformers",), False,
                      weights=False),
    "cross-encoder": Role("a cross-encoder (a Hugging Face sequence-classification folder or hub id, e.g. "
                          "BAAI/bge-reranker-base, or an ONNX folder: model.onnx + tokenizer.json)",
                          ("onnx-cross-encoder",), False),
    "biencoder": Role("a bi-encoder teacher (a sentence-transformers folder or hub id, or an ONNX folder: model.onnx + "
                      "tokenizer.json)", ("sentence-transformers", "onnx-embedding"), False),
    "gguf": Role("a GGUF model file for llama.cpp", ("gguf",), True),
    "llm": Role("an LLM: a GGUF file (llama.cpp) or a Hugging Face causal language model", ("gguf",), None),
}


KIND_ROLES = {"sentence-transformers": ROLES["embedding"], "gguf": ROLES["gguf"],
              "onnx-cross-encoder": ROLES["cross-encoder"], "onnx-embedding": ROLES["biencoder"]}
"""What a packaged model of each kind is checked as when no role is asked for."""


def cache_dir() -> Path:
    """The user cache folder: `$CORPUSTUNE_CACHE`, else `~/.cache/corpustune`."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/corpustune").expanduser()


def resolve_model(name: str, role: str | None = None) -> str:
    """Return a local path for an alias, a path or a GGUF on the hub, or a hub id to fetch.

    `role` (a key of `ROLES`) is what the model is for; None accepts any kind. Raises
    ModelNotFoundError with the fix: the install command of a missing packaged model, the aliases
    that fit a role, a path that does not exist or has the wrong form, a hub id that cannot be
    fetched.
    """
    return _resolve(name, role, fetch=True)


def check_model(name: str, role: str) -> None:
    """Raise now what `resolve_model(name, role)` would raise, without assembling packaged
    weights or downloading anything (a hub id costs one metadata request)."""
    _resolve(name, role, fetch=False)


def _resolve(name: str, role: str | None, fetch: bool) -> str:
    wanted = ROLES[role] if role is not None else None
    if name in PACKAGED_MODELS:
        model = PACKAGED_MODELS[name]
        if wanted is not None and model.kind not in wanted.kinds:
            raise ModelNotFoundError(_wrong_alias(model, wanted))
        if not fetch and not is_available(model):
            raise _not_installed(model)
        local = materialize(model) if fetch else installed_path(model)
        if local is not None:
            _check_path(local, wanted or KIND_ROLES[model.kind])
        return str(local) if fetch else name
    path = Path(name).expanduser()
    if path.exists():
        if wanted is not None:
            _check_path(path, wanted)
        return str(path)
    repo, _, filename = name.partition(":")
    if repo.count("/") == 1 and all(repo.split("/")) and not _looks_like_path(repo):
        if wanted is not None and (wanted.file or filename):
            return _hub_gguf(repo, filename, wanted, fetch)
        found = _hub_model(repo)
        if wanted is not None and found != repo:  # the copy in the Hugging Face cache is what loads
            _check_path(Path(found), wanted)
        return found
    if _looks_like_path(name):
        raise ModelNotFoundError(f"{name}: no such model file or folder")
    raise ModelNotFoundError(
        f"{name!r} is neither a packaged model alias ({', '.join(PACKAGED_MODELS)}), an existing path, "
        f"nor a hub id of the form 'org/name'; `corpustune models` lists the aliases"
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith((".gguf", ".bin"))


def _wrong_alias(model: PackagedModel, wanted: Role) -> str:
    """The packaged model is of the wrong kind: say what it is, what is needed and what fits."""
    fitting = [alias for alias, other in PACKAGED_MODELS.items() if other.kind in wanted.kinds]
    others = "a local path or a hub id"
    choice = f"use one of {', '.join(fitting)} or {others}" if fitting else f"no packaged model fits: give {others}"
    return (f"{model.alias!r} is a packaged {model.kind} model ({model.name}), but this needs {wanted.needs}; "
            f"{choice} (`corpustune models` lists the aliases)")


def _check_path(path: Path, wanted: Role) -> None:
    """A folder where a GGUF file is needed, a file where a folder is needed, and a folder or GGUF
    file that would not load (`corpustune.models.check`)."""
    if path.is_dir():
        if wanted.file:
            raise ModelNotFoundError(f"{path}: is a folder, but this needs {wanted.needs}; give the path of the "
                                     f".gguf file")
        check_model_folder(path, wanted.needs, weights=wanted.weights)
        return
    if wanted.file is False:
        raise ModelNotFoundError(f"{path}: is a file, but this needs {wanted.needs}; give the model's folder")
    check_gguf(path, wanted.needs)


def hub_offline() -> bool:
    """True when `HF_HUB_OFFLINE` is set (read now, not at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def _hub_files(repo: str) -> tuple[str, ...] | str | None:
    """The files of hub repo `repo` from one metadata request without retries; None when the hub
    answered with another error (the loader reports it); or why the hub gave no answer (DNS,
    connection, proxy, timeout, `HF_HUB_OFFLINE`). A missing or gated repo raises ModelNotFoundError."""
    return "HF_HUB_OFFLINE is set" if hub_offline() else _hub_listing(repo)


@functools.cache
def _hub_listing(repo: str) -> tuple[str, ...] | str | None:
    """`_hub_files` online, asked once per process and repo."""
    import huggingface_hub

    try:
        info = huggingface_hub.model_info(repo, timeout=HUB_TIMEOUT_S)
    except huggingface_hub.errors.GatedRepoError:
        raise ModelNotFoundError(f"{repo}: a gated model on the Hugging Face hub; accept its terms at "
                                 f"https://huggingface.co/{repo} and log in with `hf auth login`") from None
    except huggingface_hub.errors.RepositoryNotFoundError:
        raise ModelNotFoundError(f"{repo}: no such model on the Hugging Face hub (or it is private: log in "
                                 f"with `hf auth login`); check the id") from None
    except huggingface_hub.errors.HfHubHTTPError:
        return None
    except Exception as error:  # no answer at all
        return f"the Hugging Face hub cannot be reached ({type(error).__name__}: {error})"
    return tuple(sibling.rfilename for sibling in info.siblings or ())


def _hub_model(repo: str) -> str:
    """The hub id when the hub answers; the cached snapshot folder when it does not; otherwise
    ModelNotFoundError at once (the loaders would retry for a minute)."""
    import huggingface_hub

    listing = _hub_files(repo)
    if not isinstance(listing, str):
        return repo
    try:
        return huggingface_hub.snapshot_download(repo, local_files_only=True)
    except huggingface_hub.errors.LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"{repo}: {listing} and the model is not in the local Hugging Face cache; connect to the network, "
            f"or download it where there is one (`hf download {repo}`) and pass its folder, or use a packaged "
            f"alias (`corpustune models`)"
        ) from None


def _hub_gguf(repo: str, pattern: str, wanted: Role, fetch: bool) -> str:
    """The local path of a GGUF file of hub repo `repo` (the file `pattern` names or matches, or
    the only GGUF file of the repo), downloaded into the Hugging Face cache on first use (not
    when `fetch` is False: then `repo`); from the cache alone when the hub gives no answer."""
    import huggingface_hub

    listing = _hub_files(repo)
    exact = pattern if pattern and not any(mark in pattern for mark in "*?[") else ""
    if isinstance(listing, str):
        if exact:
            try:
                cached = huggingface_hub.hf_hub_download(repo, exact, local_files_only=True)
            except huggingface_hub.errors.LocalEntryNotFoundError:
                pass
            else:
                check_gguf(Path(cached), wanted.needs)
                return cached
        raise ModelNotFoundError(
            f"{repo}{':' + pattern if pattern else ''}: {listing} and the file is not in the local Hugging Face "
            f"cache; download it where there is a network (`hf download {repo} {exact or 'FILE.gguf'}`) and pass "
            f"the path of the .gguf file"
        )
    files = [exact] if exact else _gguf_choice(repo, pattern, listing, wanted)
    if not fetch:
        return repo
    try:
        paths = [huggingface_hub.hf_hub_download(repo, file) for file in files]
    except huggingface_hub.errors.EntryNotFoundError:
        raise ModelNotFoundError(f"{repo}: has no file {exact!r}; see https://huggingface.co/{repo}/tree/main "
                                 f"for its GGUF files") from None
    return paths[0]  # llama.cpp opens the other parts of a split GGUF from beside the first


def _gguf_choice(repo: str, pattern: str, listing: tuple[str, ...] | None, wanted: Role) -> list[str]:
    """The GGUF file of `repo` that `pattern` (default: any) matches, or the parts of one split
    GGUF; ModelNotFoundError naming the files when none or several match."""
    hint = f"see https://huggingface.co/{repo}/tree/main and give the file as --model {repo}:FILE.gguf"
    if listing is None:
        raise ModelNotFoundError(f"{repo}: the Hugging Face hub did not list its files; {hint}")
    files = sorted(f for f in listing if f.lower().endswith(".gguf")
                   and fnmatch.fnmatch(f.lower(), (pattern or "*.gguf").lower()))
    if not files:
        found = f"matches {pattern!r}" if pattern else "is in the repository"
        raise ModelNotFoundError(f"{repo}: no GGUF file {found}, but this needs {wanted.needs}; {hint}")
    parts = _split_parts(files)
    if len(files) > 1 and not parts:
        shown = ", ".join(files[:8]) + (", ..." if len(files) > 8 else "")
        raise ModelNotFoundError(f"{repo}: holds {len(files)} GGUF files ({shown}); choose one as "
                                 f"--model {repo}:FILE (a glob such as '{repo}:*q4_k_m.gguf' works too)")
    return parts or files


def _split_parts(files: list[str]) -> list[str]:
    """The files in order when they are the parts of one split GGUF (`name-00001-of-00003.gguf`), else []."""
    stems = {re.sub(r"-\d{5}-of-\d{5}\.gguf$", "", f, flags=re.IGNORECASE) for f in files}
    split = all(re.search(r"-\d{5}-of-\d{5}\.gguf$", f, flags=re.IGNORECASE) for f in files)
    return files if split and len(stems) == 1 else []


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


def installed_path(model: PackagedModel) -> Path | None:
    """The local path of a packaged model without assembling anything: its one part, or its
    assembled copy in the cache; None while its parts are not joined yet (`materialize` checks
    their sha256 when it joins them) or not installed."""
    if assembled_path(model).exists():
        return assembled_path(model)
    return locate_part(model.parts[0]) if len(model.parts) == 1 else None


def local_model_path(name: str) -> Path | None:
    """The local folder or file that model argument `name` (see `resolve_model`) names without
    assembling or downloading anything: None for a hub id or a packaged model not joined yet."""
    if name in PACKAGED_MODELS:
        return installed_path(PACKAGED_MODELS[name])
    path = Path(name).expanduser()
    return path if path.exists() else None


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
