"""VisualEmbedder: batching, validation naming the plugin, L2, crop vs region, seed API."""

from __future__ import annotations

import numpy as np
import pytest

from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.errors import ConfigError, PluginError
from orion_core.plugins import register_backend, reset_plugins, unregister_backend

from fakes import make_backend


@pytest.fixture
def fake():
    """Register a fake backend named 'fake' for one test."""
    registered = []

    def register(**kwargs):
        register_backend("fake", make_backend(**kwargs))
        registered.append("fake")

    yield register
    for name in registered:
        unregister_backend(name)
    reset_plugins()


def crops(count, size=(12, 10)):
    rng = np.random.default_rng(count)
    return [rng.integers(0, 255, size=(*size, 3), dtype=np.uint8) for _ in range(count)]


def test_batches_to_batch_size_and_normalises(fake):
    calls = []
    fake(dim=8, calls=calls)
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake", batch_size=4))
    rows = embedder.encode(crops(10))
    assert calls == [4, 4, 2]
    assert rows.shape == (10, 8) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    assert embedder.encode([]).shape == (0, 8) and calls == [4, 4, 2]


def test_device_and_precision_resolved_before_the_plugin_sees_them(fake):
    fake(dim=8)
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake"))
    assert embedder.model["config"].device == "cpu"  # no GPU in CI
    assert embedder.model["config"].precision == "fp32"
    assert embedder.config.embedding_dim == 8


@pytest.mark.parametrize(
    "result, message",
    [
        (lambda imgs: np.zeros((len(imgs) + 1, 8)), r"encode_batch returned shape \(3, 8\), expected \(2, 8\)"),
        (lambda imgs: np.ones((len(imgs), 7)), r"returned shape \(2, 7\), expected \(2, 8\)"),
        (lambda imgs: np.full((len(imgs), 8), np.nan), "NaN or infinite"),
        (lambda imgs: np.zeros((len(imgs), 8)), "all-zero embedding"),
        (lambda imgs: None, "returned None"),
    ],
)
def test_bad_plugin_output_names_the_plugin(fake, result, message):
    fake(dim=8, result=result)
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake"))
    with pytest.raises(PluginError, match=message) as info:
        embedder.encode(crops(2))
    assert "backend 'fake'" in str(info.value)


def test_plugin_exception_becomes_plugin_error(fake):
    fake(dim=8, fail=RuntimeError("CUDA out of memory"))
    with pytest.raises(PluginError, match="backend 'fake': encode_batch failed: RuntimeError: CUDA out of memory"):
        VisualEmbedder(EmbeddingConfig(backend="fake")).encode(crops(1))


def test_declared_dim_must_match(fake):
    fake(dim=8)
    with pytest.raises(ConfigError, match="embedding_dim is 9 but backend 'fake' produces 8"):
        VisualEmbedder(EmbeddingConfig(backend="fake", embedding_dim=9))


def test_torch_tensors_are_accepted(fake):
    import torch

    fake(dim=4, result=lambda imgs: torch.ones(len(imgs), 4, dtype=torch.bfloat16))
    rows = VisualEmbedder(EmbeddingConfig(backend="fake")).encode(crops(3))
    np.testing.assert_allclose(rows, 0.5)


def test_embed_detections_skips_unusable_crops_and_counts_them(fake):
    fake(dim=8)
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake"))
    good = crops(2)
    dets = [{"crop": good[0]}, {"crop": None}, {"crop": np.zeros((1, 5, 3), np.uint8)}, {"crop": good[1]}, {}]
    embedder.embed_detections(dets)
    assert [("embedding" in d) for d in dets] == [True, False, False, True, False]
    assert embedder.stats["skipped"] == 3
    np.testing.assert_allclose(np.linalg.norm(dets[0]["embedding"]), 1.0, atol=1e-6)


def test_crop_mode_batches_across_frames_and_marks_tiny_boxes(fake):
    calls = []
    fake(dim=8, calls=calls)
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake", batch_size=64))
    frames = [np.full((40, 60, 3), i * 40, np.uint8) for i in range(3)]
    boxes = [np.array([[0, 0, 10, 10], [5, 5, 5, 5]]), np.zeros((0, 4)), np.array([[1, 1, 20, 30]])]
    out = embedder.embed_boxes(frames, boxes)
    assert calls == [2]  # one backend call for three frames
    assert [r.shape for r, _ in out] == [(2, 8), (0, 8), (1, 8)]
    assert out[0][1].tolist() == [True, False] and not out[0][0][1].any()
    assert embedder.pooling == "crop"


def test_region_mode_pools_feature_maps(fake):
    grid = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) + 1.0

    fake(dim=2, feature_maps=lambda frames: np.stack([grid] * len(frames)))
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake"))  # auto -> region
    assert embedder.pooling == "region"
    frame = np.zeros((30, 40, 3), np.uint8)  # 10x10 pixels per cell
    (rows, valid), = embedder.embed_boxes([frame], [np.array([[10, 0, 30, 20]])])
    expected = grid[:, 0:2, 1:3].mean(axis=(1, 2))
    np.testing.assert_allclose(rows[0], expected / np.linalg.norm(expected), rtol=1e-5)
    assert valid.tolist() == [True]


def test_exposure_gains_reach_the_backend_divided_out(fake):
    """Crops (crop mode) and whole frames (region mode) arrive with each frame's gain divided
    out, so a plugin needs no brightness handling of its own; a None gain leaves pixels as they are."""
    seen = []
    fake(dim=2, result=lambda images: seen.extend(images) or np.ones((len(images), 2)))
    embedder = VisualEmbedder(EmbeddingConfig(backend="fake"))
    frame = np.full((30, 40, 3), 100, np.uint8)
    embedder.embed_boxes([frame, frame], [np.array([[0, 0, 20, 20]])] * 2, [np.array([2.0, 1.0, 0.5]), None])
    assert seen[0][0, 0].tolist() == [50, 100, 200] and seen[1][0, 0].tolist() == [100, 100, 100]


def test_region_pooling_sees_whole_frames_with_the_exposure_divided_out(fake):
    frame = np.full((30, 40, 3), 100, np.uint8)
    frames = []
    fake(dim=2, feature_maps=lambda given: frames.extend(given) or np.ones((len(given), 2, 3, 4), np.float32))
    VisualEmbedder(EmbeddingConfig(backend="fake")).embed_boxes([frame], [np.array([[0, 0, 20, 20]])], [np.full(3, 1.25)])
    assert frames[0].shape == frame.shape and frames[0][5, 5].tolist() == [80, 80, 80]


def test_region_without_feature_maps_is_a_config_error(fake):
    fake(dim=8)
    with pytest.raises(ConfigError, match="use --pooling crop"):
        VisualEmbedder(EmbeddingConfig(backend="fake", pooling="region"))


def test_encode_rejects_non_images(fake):
    fake(dim=8)
    with pytest.raises(ConfigError, match="image 1 is not an HxWx3 uint8"):
        VisualEmbedder(EmbeddingConfig(backend="fake")).encode([crops(1)[0], np.zeros((4, 4), np.uint8)])


def test_clips_need_a_video_backend(fake):
    fake(dim=8)
    with pytest.raises(ConfigError, match="does not encode clips"):
        VisualEmbedder(EmbeddingConfig(backend="fake")).encode_clips([np.zeros((2, 4, 4, 3), np.uint8)])
