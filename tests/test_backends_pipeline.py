"""`orion run --backend dinov2|dinov3|vjepa2 --weights DIR` on tiny random checkpoints saved the way users have them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orion_core import EmbeddingConfig, PerceptionConfig, VisualEmbedder
from orion_core.cli import main
from orion_core.synthetic import make_scene

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def _processor(folder, size):
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"size": {"height": size, "width": size}, "image_mean": MEAN, "image_std": STD, "rescale_factor": 1 / 255})
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    import torch
    import transformers as tf

    root = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    tiny = dict(hidden_size=48, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    tf.Dinov2Model(tf.Dinov2Config(**tiny, image_size=56, patch_size=14)).save_pretrained(root / "dinov2")
    _processor(root / "dinov2", 56)
    tf.DINOv3ViTModel(tf.DINOv3ViTConfig(**tiny, image_size=64, patch_size=16, num_register_tokens=4)).save_pretrained(root / "dinov3")
    _processor(root / "dinov3", 64)
    vjepa = tf.VJEPA2Config(
        hidden_size=40, num_hidden_layers=1, num_attention_heads=2, mlp_ratio=2.0, crop_size=32, patch_size=16,
        tubelet_size=2, frames_per_clip=4, pred_hidden_size=16, pred_num_hidden_layers=1, pred_num_attention_heads=2,
    )  # fmt: skip
    tf.VJEPA2Model(vjepa).save_pretrained(root / "vjepa2")
    tf.VJEPA2VideoProcessor(crop_size=32, image_mean=MEAN, image_std=STD).save_pretrained(root / "vjepa2")
    return root


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), seed=1, frames=30, size=(160, 120))


@pytest.mark.parametrize(
    "backend, pooling, dim",
    [("dinov2", "crop", 48), ("dinov2", "region", 48), ("dinov3", "crop", 48), ("dinov3", "region", 48), ("vjepa2", "crop", 40)],
)
def test_run_writes_unit_embeddings_of_the_hidden_size(checkpoints, scene, tmp_path, backend, pooling, dim):
    main(
        ["run", str(scene.video_path), "--detections", str(scene.det_path), "--backend", backend, "--weights", str(checkpoints / backend),
         "--pooling", pooling, "--out", str(tmp_path), "--episode", "ep", "--device", "cpu"]
    )  # fmt: skip
    rows = np.load(tmp_path / "ep" / "embeddings.npy")
    assert rows.shape[1] == dim and rows.shape[0] > 0
    valid = rows[~np.isnan(rows).any(axis=1)]
    np.testing.assert_allclose(np.linalg.norm(valid, axis=1), 1.0, atol=1e-4)
    run = json.loads((tmp_path / "ep" / "run.json").read_text())
    assert run["config"]["embedding"]["pooling"] == pooling and run["complete"] is True
    assert run["versions"][f"orion-{backend}"] == "0.2.0"


def test_region_is_the_default_where_feature_maps_exist(checkpoints):
    assert VisualEmbedder(EmbeddingConfig(backend="dinov3", weights_dir=str(checkpoints / "dinov3"))).pooling == "region"
    assert VisualEmbedder(EmbeddingConfig(backend="vjepa2", weights_dir=str(checkpoints / "vjepa2"))).pooling == "crop"


def test_seed_api(checkpoints):
    embedder = VisualEmbedder(config=EmbeddingConfig(backend="dinov3", dinov3_weights_dir=checkpoints / "dinov3"))
    rng = np.random.default_rng(0)
    dets = [{"crop": rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)}, {"crop": None}]
    embedder.embed_detections(dets)
    assert dets[0]["embedding"].shape == (48,) and "embedding" not in dets[1]
    for preset in ("dinov2_preset", "dinov3_preset", "vjepa2_preset", "mobilenetv2_preset", "histogram_preset"):
        config = getattr(PerceptionConfig, preset)()
        assert config.embedding.backend == preset.removesuffix("_preset")
