"""The offline MobileNetV2 backend: contract, determinism, weights handling."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import orion_mobilenetv2 as mnv2
from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.errors import ConfigError, WeightsError
from orion_core.testing import check_backend, sample_images


@pytest.fixture(scope="module")
def embedder() -> VisualEmbedder:
    return VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", precision="fp32"))


def test_contract_with_shipped_weights_offline():
    report = check_backend("mobilenetv2")
    assert report["dim"] == 1280
    assert report["info"]["reid_threshold"] > 0.5
    assert "encode_batch" in report["hooks"]


def test_dim_without_loading_weights():
    assert EmbeddingConfig(backend="mobilenetv2").embedding_dim == 1280


def test_same_image_identical_different_images_differ(embedder):
    a, b = sample_images(2, seed=3)
    rows = embedder.encode([a, a.copy(), b])
    np.testing.assert_array_equal(rows[0], rows[1])
    assert float(rows[0] @ rows[2]) < 0.999
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_shipped_file_loads_with_weights_only():
    path = mnv2.shipped_weights()
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    assert state["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert state["features.18.0.weight"].shape == (1280, 320, 1, 1)  # the 1280-d bottleneck


def test_preprocessing_is_rgb_imagenet_224(embedder):
    """Channel order matters: swapping R and B must change the embedding (we feed RGB as RGB)."""
    image = sample_images(1, seed=5)[0]
    rgb, bgr = embedder.encode([image, np.ascontiguousarray(image[..., ::-1])])
    assert float(rgb @ bgr) < 0.999
    assert mnv2.PREPROCESS.size == (224, 224)
    assert mnv2.PREPROCESS.mean == (0.485, 0.456, 0.406) and mnv2.PREPROCESS.std == (0.229, 0.224, 0.225)


def test_matches_the_network_run_by_hand(embedder):
    """The plugin output equals the bare network on the same normalised input (no hidden extra steps)."""
    from orion_core.vision import resize_normalize

    image = sample_images(1, seed=7)[0]
    raw = mnv2.encode_batch(embedder=embedder.model, images=[image])
    batch = torch.from_numpy(resize_normalize([image], (224, 224), mnv2.PREPROCESS))
    with torch.no_grad():
        expected = embedder.model.model(batch).numpy()
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-6)
    assert (raw >= 0).all()  # ReLU6 bottleneck: features are non-negative


def test_weights_dir_may_name_a_copy_of_the_file_or_its_folder(tmp_path, embedder):
    copy = tmp_path / "mnv2.pt"
    shutil.copy(mnv2.shipped_weights(), copy)
    image = sample_images(1, seed=9)[0]
    expected = embedder.encode([image])
    for where in (copy, tmp_path):
        other = VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", weights_dir=str(where)))
        assert other.model.weights == copy
        np.testing.assert_allclose(other.encode([image]), expected, atol=1e-6)


def test_bad_weights_are_one_line_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", weights_dir=str(tmp_path / "nope.pt")))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read") as info:
        VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", weights_dir=str(broken)))
    assert "\n" not in str(info.value)
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(WeightsError, match="not a MobileNetV2"):
        VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", weights_dir=str(wrong)))


class _Payload:  # a pickled object: unpickling it would call a function
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_with_code_is_refused_for_safety_not_called_truncated(tmp_path, capsys):
    hostile = tmp_path / "hostile.pt"
    torch.save({"features.0.weight": _Payload()}, hostile)
    with pytest.raises(WeightsError, match="contains Python objects.*refused for safety") as info:
        VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", weights_dir=str(hostile)))
    assert "truncated" not in str(info.value) and "pwned" not in capsys.readouterr().out


def test_hub_model_is_refused():
    with pytest.raises(ConfigError, match="one built-in model"):
        VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", model="facebook/dinov2-small"))


def test_bf16_falls_back_to_a_precision_that_keeps_the_embedding():
    assert mnv2.effective_precision("bf16", "cuda") == "fp16"
    assert mnv2.effective_precision("bf16", "cpu") == "fp32"
    assert mnv2.effective_precision("fp16", "cuda") == "fp16"
    embedder = VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", precision="bf16"))
    assert embedder.model.precision == "fp32"
    assert next(embedder.model.model.parameters()).dtype == torch.float32
