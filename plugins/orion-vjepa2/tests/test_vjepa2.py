"""The V-JEPA 2 backend on a tiny random checkpoint: contract, pooling, RoPE size guard, clips."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

import orion_vjepa2 as vj
from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.errors import ConfigError, WeightsError
from orion_core.testing import check_backend, sample_images

CROP = 32
MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)  # deliberately not ImageNet


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random V-JEPA 2 (hidden 32, 2 layers, crop 32, patch 16, tubelet 2) plus its processor config."""
    from transformers import VJEPA2Config, VJEPA2Model, VJEPA2VideoProcessor

    folder = tmp_path_factory.mktemp("vjepa2-tiny")
    torch.manual_seed(0)
    config = VJEPA2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0,
        crop_size=CROP, patch_size=16, tubelet_size=2, frames_per_clip=8,
        pred_hidden_size=16, pred_num_hidden_layers=1, pred_num_attention_heads=2, pred_num_mask_tokens=2,
    )  # fmt: skip
    VJEPA2Model(config).save_pretrained(folder)
    VJEPA2VideoProcessor(crop_size=CROP, image_mean=list(MEAN), image_std=list(STD)).save_pretrained(folder)
    return folder


def make(checkpoint, **options) -> VisualEmbedder:
    return VisualEmbedder(EmbeddingConfig(backend="vjepa2", weights_dir=str(checkpoint), device="cpu", precision="fp32", **options))


@pytest.fixture(scope="module")
def embedder(checkpoint) -> VisualEmbedder:
    return make(checkpoint)


def feed_shapes(embedder: VisualEmbedder) -> list[tuple[int, ...]]:
    """Record the pixel tensor shape of every forward pass the encoder sees."""
    seen: list[tuple[int, ...]] = []
    embeddings = embedder.model.model.encoder.embeddings
    handle = embeddings.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    return seen, handle


def reference(model, frames: list[np.ndarray]) -> np.ndarray:
    """Mean of encoder tokens computed by hand: cv2 resize to crop_size, the processor's mean/std."""
    pixels = []
    for frame in frames:
        resized = cv2.resize(frame, (CROP, CROP), interpolation=cv2.INTER_AREA if max(frame.shape[:2]) > CROP else cv2.INTER_LINEAR)
        pixels.append((resized.astype(np.float32) / 255.0 - np.array(MEAN, np.float32)) / np.array(STD, np.float32))
    clip = torch.from_numpy(np.stack(pixels).transpose(0, 3, 1, 2))[None]  # (1, T, 3, S, S)
    with torch.no_grad():
        tokens = model(pixel_values_videos=clip, skip_predictor=True).last_hidden_state
    assert tokens.shape == (1, (len(frames) // 2) * (CROP // 16) ** 2, 32)
    return tokens.mean(dim=1)[0].numpy()


def test_contract(checkpoint):
    report = check_backend("vjepa2", weights_dir=str(checkpoint))
    assert report["dim"] == 32 and report["clips"] is True
    assert report["info"]["default_model"] == "facebook/vjepa2-vitl-fpc64-256"


def test_dim_from_config_or_table_without_weights(checkpoint):
    assert EmbeddingConfig(backend="vjepa2", weights_dir=str(checkpoint)).embedding_dim == 32
    assert EmbeddingConfig(backend="vjepa2").embedding_dim == 1024
    dims = {m: EmbeddingConfig(backend="vjepa2", model=m).embedding_dim for m in vj.HUB_DIMS}
    assert sorted(dims.values()) == [1024, 1280, 1408, 1408]


def test_embedding_is_mean_of_encoder_tokens(embedder):
    image = sample_images(3, seed=1)[2]  # 64x64, shrunk to 32x32
    raw = vj.encode_batch(embedder=embedder.model, images=[image])
    expected = reference(embedder.model.model, [image, image])  # one tubelet = two copies
    np.testing.assert_allclose(raw[0], expected, rtol=1e-4, atol=1e-5)


def test_processor_mean_std_are_used(embedder):
    prep = embedder.model.prep
    assert prep.mean == pytest.approx(MEAN) and prep.std == pytest.approx(STD) and prep.size == (CROP, CROP)


def test_rope_guard_refuses_other_sizes(embedder):
    good = torch.zeros(1, 2, 3, CROP, CROP)
    assert vj.encode_pixels(embedder.model, good).shape == (1, 32)
    for bad in (torch.zeros(1, 2, 3, 2 * CROP, 2 * CROP), torch.zeros(1, 2, 3, CROP, 2 * CROP), torch.zeros(2, 3, CROP, CROP)):
        with pytest.raises(ValueError, match="RoPE"):
            vj.encode_pixels(embedder.model, bad)


def test_odd_sized_crops_are_fed_at_crop_size(embedder):
    seen, handle = feed_shapes(embedder)
    try:
        images = [np.full((h, w, 3), 90, np.uint8) for h, w in ((7, 130), (91, 13), (33, 31), (64, 64))]
        embedder.encode(images)
        embedder.encode_clips([np.stack([images[0]] * 3)])
    finally:
        handle.remove()
    assert seen == [(4, 2, 3, CROP, CROP), (1, 2, 3, CROP, CROP)]


def test_crop_is_a_single_tubelet_clip(embedder):
    """T=1 (the model repeats it to a tubelet) and two copies give the same tokens: one tubelet, no 16-frame waste."""
    image = sample_images(1, seed=4)[0]
    pixels = vj.frames_to_pixels(embedder.model, [image], 1, 1)
    one = vj.encode_pixels(embedder.model, pixels)
    two = vj.encode_pixels(embedder.model, pixels.expand(-1, 2, -1, -1, -1))
    torch.testing.assert_close(one, two)


def test_clips_use_the_last_clip_frames(checkpoint):
    emb4 = make(checkpoint, clip_frames=4)
    frames = sample_images(6, seed=8)
    clip = np.stack([cv2.resize(f, (40, 48)) for f in frames])  # a tracklet's crops share one size
    seen, handle = feed_shapes(emb4)
    try:
        rows = emb4.encode_clips([clip, clip[:1]])
    finally:
        handle.remove()
    assert rows.shape == (2, 32) and seen == [(2, 4, 3, CROP, CROP)]
    latest = reference(emb4.model.model, list(clip[-4:]))
    earliest = reference(emb4.model.model, list(clip[:4]))
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    np.testing.assert_allclose(rows[0], unit(latest), atol=1e-5)
    assert not np.allclose(rows[0], unit(earliest), atol=1e-3)
    # a one-frame tracklet is padded to a still clip, which is exactly that crop's embedding
    np.testing.assert_allclose(rows[1], emb4.encode([clip[0]])[0], atol=1e-5)


def test_default_clip_frames_is_one_tubelet(embedder):
    assert embedder.model.clip_frames == 2 == embedder.model.tubelet


def test_clip_frames_must_fill_whole_tubelets(checkpoint):
    with pytest.raises(ConfigError, match="multiple of 2"):
        make(checkpoint, clip_frames=3)
    assert make(checkpoint, clip_frames=1).model.clip_frames == 1


def test_weights_errors_are_one_line(checkpoint, tmp_path):
    with pytest.raises(WeightsError, match="does not exist") as info:
        EmbeddingConfig(backend="vjepa2", weights_dir=str(tmp_path / "missing"))
    assert "\n" not in str(info.value)
    other = tmp_path / "dino"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "dinov2", "hidden_size": 384}))
    with pytest.raises(WeightsError, match=r"not V-JEPA 2: run it with backend .dinov2. \(--backend dinov2\)"):
        EmbeddingConfig(backend="vjepa2", weights_dir=str(other))


def test_truncated_weights_are_caught_before_loading(checkpoint, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:-100])
    with pytest.raises(WeightsError, match="truncated"):
        make(broken)


def test_uncached_hub_model_offline_is_a_weights_error():
    with pytest.raises(WeightsError, match="--weights DIR") as info:  # conftest sets HF_HUB_OFFLINE
        VisualEmbedder(EmbeddingConfig(backend="vjepa2", model="orion-tests/vjepa2-absent", device="cpu"))
    assert "\n" not in str(info.value) and "hf download orion-tests/vjepa2-absent" in str(info.value)
