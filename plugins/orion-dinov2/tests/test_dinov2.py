"""The dinov2 backend, loaded through the same path a user's folder, file or hub id takes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import orion_dinov2
from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.errors import WeightsError
from orion_core.testing import assert_one_line, check_backend, check_weights_errors, sample_images
from orion_core.weights import verify_checkpoint
from orion_core.vision import l2_normalize

CPU = dict(device="cpu", precision="fp32")
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
TIMM_TINY = dict(embed_dim=32, depth=2, num_heads=2, img_size=56)


def embedder_for(path, **kwargs) -> VisualEmbedder:
    return VisualEmbedder(EmbeddingConfig(backend="dinov2", weights_dir=str(path), **CPU, **kwargs))


def pixels_exact(image: np.ndarray, size_hw: tuple[int, int], mean, std) -> torch.Tensor:
    """Preprocessing written out by hand: resize, scale to [0, 1], normalise with the given mean/std."""
    height, width = size_hw
    shrinking = image.shape[0] > height or image.shape[1] > width
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    normalised = (resized.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(normalised.transpose(2, 0, 1).copy())[None]


def pixels(images, size: int, mean, std) -> torch.Tensor:
    return torch.cat([pixels_exact(image, (size, size), mean, std) for image in images])


def hf_model(folder: Path):
    import transformers

    return transformers.AutoModel.from_pretrained(str(folder)).eval()


def one_line_error(info, *fragments: str) -> None:
    assert_one_line(str(info.value), *fragments)


# -- the contract and the model's own outputs ---------------------------------------------------------
@pytest.mark.parametrize("fixture", ["dinov2_dir", "dinov2_reg_dir"])
def test_conformance(request, fixture):
    report = check_backend("dinov2", weights_dir=str(request.getfixturevalue(fixture)))
    assert report["dim"] == 32
    assert report["feature_grid"] == (32, 48)  # 128x192 frames, short side 448 -> 448x672 px -> 32x48 patches
    assert report["info"]["default_model"] == "facebook/dinov2-small"
    assert 0.5 < report["info"]["reid_threshold"] < 0.8


def test_cls_embedding_is_the_models_pooler_output(dinov2_dir):
    images = sample_images(4)
    raw = embedder_for(dinov2_dir).model.encode_crops(images)
    with torch.inference_mode():
        expected = hf_model(dinov2_dir)(pixel_values=pixels(images, 56, *json_mean_std(dinov2_dir))).pooler_output.numpy()
    np.testing.assert_allclose(raw, expected, atol=1e-5)


def json_mean_std(folder: Path) -> tuple[list, list]:
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    return processor["image_mean"], processor["image_std"]


def test_feature_map_is_patch_tokens_after_cls_and_registers(dinov2_reg_dir):
    frame = np.ascontiguousarray(np.tile(sample_images(1)[0], (2, 5, 1))[:90, :140])  # 90x140, not square
    maps = embedder_for(dinov2_reg_dir, options={"short_side": 56}).feature_maps([frame])
    assert maps.shape == (1, 32, 4, 6)  # 56x87 -> 56x84 px, 4x6 patches of 14 px: the frame's whole extent
    with torch.inference_mode():
        tokens = hf_model(dinov2_reg_dir)(pixel_values=pixels_exact(frame, (56, 84), *IMAGENET)).last_hidden_state
    assert tokens.shape[1] == 1 + 4 + 24
    expected = tokens[0, 5:].reshape(4, 6, 32).permute(2, 0, 1).numpy()
    np.testing.assert_allclose(maps[0], expected, atol=1e-5)
    shifted = tokens[0, 1:25].reshape(4, 6, 32).permute(2, 0, 1).numpy()  # registers taken for patches
    assert not np.allclose(maps[0], shifted, atol=1e-3)


def test_region_embedding_averages_the_cells_the_box_covers(dinov2_dir):
    frame = np.ascontiguousarray(np.tile(sample_images(3)[2], (3, 4, 1))[:90, :160])  # 90x160
    embedder = VisualEmbedder(
        EmbeddingConfig(backend="dinov2", weights_dir=str(dinov2_dir), pooling="region", options={"short_side": 70}, **CPU)
    )
    box = np.array([[40.0, 20.0, 100.0, 70.0]], dtype=np.float32)
    (rows, valid), = embedder.embed_boxes([frame], [box])
    fmap = embedder.feature_maps([frame])[0]
    assert fmap.shape == (32, 5, 9)  # 70x126 px: 90*70/90 = 70 -> 5 rows, 160*70/90 = 124.4 -> 9 columns
    # x 40..100 of 160 px over 9 columns -> columns 2..5; y 20..70 of 90 px over 5 rows -> rows 1..3
    expected = l2_normalize(fmap[:, 1:4, 2:6].reshape(32, -1).mean(axis=1)[None])
    assert valid.all()
    np.testing.assert_allclose(rows, expected, atol=1e-5)


def test_mean_and_std_come_from_the_processor_config(dinov2_dir, tmp_path):
    custom = tmp_path / "custom"
    shutil.copytree(dinov2_dir, custom)
    mean, std = [0.2, 0.3, 0.4], [0.5, 0.6, 0.7]
    processor = json.loads((custom / "preprocessor_config.json").read_text())
    processor.update(image_mean=mean, image_std=std)
    (custom / "preprocessor_config.json").write_text(json.dumps(processor))
    images = sample_images(3)
    loaded = embedder_for(custom).model
    assert loaded.preprocess.mean == tuple(mean) and loaded.preprocess.std == tuple(std)
    raw = loaded.encode_crops(images)
    with torch.inference_mode():
        expected = hf_model(custom)(pixel_values=pixels(images, 56, mean, std)).pooler_output.numpy()
    np.testing.assert_allclose(raw, expected, atol=1e-5)
    imagenet = embedder_for(dinov2_dir).model.encode_crops(images)
    assert not np.allclose(raw, imagenet, atol=1e-3)


def test_bf16_loads_in_bf16_and_stays_close(dinov2_dir):
    images = sample_images(3)
    low = VisualEmbedder(EmbeddingConfig(backend="dinov2", weights_dir=str(dinov2_dir), device="cpu", precision="bf16"))
    assert next(low.model.model.parameters()).dtype == torch.bfloat16
    full = embedder_for(dinov2_dir).encode(images)
    cosine = np.sum(low.encode(images) * full, axis=1)
    assert (cosine > 0.99).all()


# -- dims without weights ---------------------------------------------------------------------------
def test_embedding_dim_from_config_json_alone(dinov2_dir, tmp_path):
    config = json.loads((dinov2_dir / "config.json").read_text())
    config.update(hidden_size=48, num_attention_heads=3)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert EmbeddingConfig(backend="dinov2", weights_dir=str(tmp_path)).embedding_dim == 48
    with pytest.raises(WeightsError) as info:
        embedder_for(tmp_path)
    one_line_error(info, "no weights")


@pytest.mark.parametrize(
    "model, dim",
    [(None, 384), ("facebook/dinov2-base", 768), ("facebook/dinov2-with-registers-large", 1024), ("facebook/dinov2-giant", 1536)],
)
def test_embedding_dim_of_hub_ids_needs_no_network(model, dim):
    assert EmbeddingConfig(backend="dinov2", model=model).embedding_dim == dim


# -- bad weights ------------------------------------------------------------------------------------
def test_bad_weights_are_one_line_weights_errors(dinov2_dir, tmp_path):
    check_weights_errors("dinov2", dinov2_dir, tmp_path)
    with pytest.raises(WeightsError) as info:
        EmbeddingConfig(backend="dinov2", weights_dir=str(dinov2_dir / "config.json"))
    one_line_error(info, "pass the folder that holds it", str(dinov2_dir))


def test_another_familys_folder_names_its_backend(dinov2_dir, tmp_path):
    config = json.loads((dinov2_dir / "config.json").read_text())
    config["model_type"] = "vjepa2"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError) as info:
        EmbeddingConfig(backend="dinov2", weights_dir=str(tmp_path))
    one_line_error(info, "'vjepa2'", "--backend vjepa2")


# -- timm: Meta's .pth files and timm hub folders -----------------------------------------------------
def tiny_timm(registers: bool):
    import timm

    torch.manual_seed(1)
    name = "vit_small_patch14_reg4_dinov2" if registers else "vit_small_patch14_dinov2"
    model = timm.create_model(name, pretrained=False, dynamic_img_size=True, **TIMM_TINY).eval()
    with torch.no_grad():  # timm starts layer scale at 1e-5, so untrained blocks barely depend on the image
        for key, value in model.named_parameters():
            if key.endswith("gamma"):
                value.fill_(0.5)
    return model


def meta_state_dict(model, registers: bool) -> dict:
    """timm's state dict renamed back to Meta's original layout (what dinov2_vit*_pretrain.pth holds)."""
    state = {key: value.clone() for key, value in model.state_dict().items()}
    state["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
    if registers:  # Meta: registers separate, pos_embed includes the CLS slot
        state["register_tokens"] = state.pop("reg_token")
        state["pos_embed"] = torch.cat([torch.zeros_like(state["pos_embed"][:, :1]), state["pos_embed"]], dim=1)
    return state


@pytest.mark.parametrize("registers", [False, True])
def test_meta_pth_through_timm(tmp_path, registers):
    reference = tiny_timm(registers)
    path = tmp_path / ("dinov2_vits14_reg4_pretrain.pth" if registers else "dinov2_vits14_pretrain.pth")
    torch.save(meta_state_dict(reference, registers), path)
    options = {"timm_kwargs": TIMM_TINY, "short_side": 56}
    report = check_backend("dinov2", weights_dir=str(path), options=options)
    assert report["dim"] == 32 and report["feature_grid"] == (4, 6)
    verified = verify_checkpoint(path)  # `orion weights verify` accepts what the backend loads
    assert (verified.backend, verified.hidden_size, verified.dims["register_tokens"]) == ("dinov2", 32, 4 if registers else 0)

    loaded = embedder_for(path, options=options).model
    assert loaded.source.startswith("timm vit_small_patch14" + ("_reg4" if registers else "") + "_dinov2.lvd142m")
    images = sample_images(2)
    frame = np.ascontiguousarray(np.tile(images[0], (2, 5, 1))[:90, :140])
    with torch.inference_mode():
        cls = reference.forward_head(reference.forward_features(pixels(images, 224, *IMAGENET)), pre_logits=True)
        tokens = reference.forward_features(pixels_exact(frame, (56, 84), *IMAGENET))
    np.testing.assert_allclose(loaded.encode_crops(images), cls.numpy(), atol=1e-5)
    prefix = 5 if registers else 1
    expected = tokens[0, prefix:].reshape(4, 6, 32).permute(2, 0, 1).numpy()
    np.testing.assert_allclose(loaded.encode_frames([frame])[0], expected, atol=1e-5)


def test_timm_hub_folder_layout(tmp_path):
    from safetensors.torch import save_file

    reference = tiny_timm(False)
    folder = tmp_path / "vit_small_patch14_dinov2.lvd142m"
    folder.mkdir()
    save_file(reference.state_dict(), str(folder / "model.safetensors"))
    pretrained_cfg = {"tag": "lvd142m", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "input_size": [3, 518, 518]}
    (folder / "config.json").write_text(json.dumps({"architecture": "vit_small_patch14_dinov2", "num_features": 32, "pretrained_cfg": pretrained_cfg}))
    options = {"timm_kwargs": TIMM_TINY}
    assert EmbeddingConfig(backend="dinov2", weights_dir=str(folder), options=options).embedding_dim == 32
    loaded = embedder_for(folder, options=options).model
    assert loaded.preprocess.mean == (0.5, 0.5, 0.5) and loaded.preprocess.std == (0.25, 0.25, 0.25)
    images = sample_images(2)
    with torch.inference_mode():
        cls = reference.forward_head(reference.forward_features(pixels(images, 224, [0.5] * 3, [0.25] * 3)), pre_logits=True)
    np.testing.assert_allclose(loaded.encode_crops(images), cls.numpy(), atol=1e-5)


def test_unrecognised_checkpoint_file_asks_for_the_architecture(tmp_path):
    path = tmp_path / "my_finetune.pth"
    torch.save(meta_state_dict(tiny_timm(False), False), path)
    with pytest.raises(WeightsError) as info:
        EmbeddingConfig(backend="dinov2", weights_dir=str(path))
    one_line_error(info, "dinov2_vits14_pretrain.pth", "timm_model")
    options = {"timm_model": "vit_small_patch14_dinov2", "timm_kwargs": TIMM_TINY}
    assert embedder_for(path, options=options).encode(sample_images(2)).shape == (2, 32)


def test_truncated_pth_is_a_weights_error(tmp_path):
    path = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save(meta_state_dict(tiny_timm(False), False), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError) as info:
        embedder_for(path, options={"timm_kwargs": TIMM_TINY})
    one_line_error(info, "truncated")


# -- hub ids ------------------------------------------------------------------------------------------
def fake_hub_cache(cache: Path, repo_id: str, source: Path) -> None:
    """What `hf download` leaves in the cache: refs/main -> snapshots/<commit>/files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(source, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_hub_id_loads_from_the_cache_offline(dinov2_dir, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    fake_hub_cache(tmp_path, "orion-test/tiny-dinov2", dinov2_dir)
    config = EmbeddingConfig(backend="dinov2", model="orion-test/tiny-dinov2", **CPU)
    assert config.embedding_dim == 32  # not in the table: read from the cached config.json
    embedder = VisualEmbedder(config)
    expected = embedder_for(dinov2_dir).encode(sample_images(2))
    np.testing.assert_allclose(embedder.encode(sample_images(2)), expected, atol=1e-6)
    assert "orion-test/tiny-dinov2" in embedder.model.source


def test_uncached_hub_id_offline_says_how_to_get_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError) as info:
        VisualEmbedder(EmbeddingConfig(backend="dinov2", **CPU))
    one_line_error(info, "facebook/dinov2-small", "HF_HUB_OFFLINE", "--weights DIR")


def test_backend_info():
    info = orion_dinov2.plugin.backend_info()
    assert info["default_model"] == "facebook/dinov2-small" and not info["gated"]
    assert "Apache-2.0" in info["licence"]
