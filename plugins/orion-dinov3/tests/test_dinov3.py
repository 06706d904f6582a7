"""The dinov3 backend, loaded through the same path a user's folder, Meta .pth or hub id takes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import orion_dinov3
from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.errors import WeightsError
from orion_core.testing import assert_one_line, check_backend, check_weights_errors, sample_images
from orion_core.vision import l2_normalize

CPU = dict(device="cpu", precision="fp32")
TIMM_TINY = dict(embed_dim=32, depth=2, num_heads=2)


def embedder_for(path, **kwargs) -> VisualEmbedder:
    return VisualEmbedder(EmbeddingConfig(backend="dinov3", weights_dir=str(path), **CPU, **kwargs))


def mean_std(folder: Path) -> tuple[list, list]:
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    return processor["image_mean"], processor["image_std"]


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


def wide_frame() -> np.ndarray:
    return np.ascontiguousarray(np.tile(sample_images(3)[2], (2, 3, 1))[:100, :180])  # 100x180, not square


def one_line_error(info, *fragments: str) -> None:
    assert_one_line(str(info.value), *fragments)


# -- the contract and the model's own outputs ---------------------------------------------------------
def test_conformance(dinov3_dir):
    report = check_backend("dinov3", weights_dir=str(dinov3_dir))
    assert report["dim"] == 32
    assert report["feature_grid"] == (32, 48)  # 128x192 frames, short side 512 -> 512x768 px -> 32x48 patches
    assert report["info"]["gated"] and "hf auth login" in report["info"]["licence"]
    assert 0.5 < report["info"]["reid_threshold"] < 0.8


def test_cls_embedding_is_the_models_pooler_output(dinov3_dir):
    images = sample_images(4)
    raw = embedder_for(dinov3_dir).model.encode_crops(images)
    with torch.inference_mode():
        expected = hf_model(dinov3_dir)(pixel_values=pixels(images, 64, *mean_std(dinov3_dir))).pooler_output.numpy()
    np.testing.assert_allclose(raw, expected, atol=1e-5)


def test_feature_map_is_patch_tokens_after_cls_and_four_registers(dinov3_dir):
    frame = wide_frame()
    maps = embedder_for(dinov3_dir, options={"short_side": 64}).feature_maps([frame])
    assert maps.shape == (1, 32, 4, 7)  # 64x115 -> 64x112 px: 4x7 patches of 16 px spanning the whole frame
    with torch.inference_mode():
        tokens = hf_model(dinov3_dir)(pixel_values=pixels_exact(frame, (64, 112), *mean_std(dinov3_dir))).last_hidden_state
    assert tokens.shape[1] == 1 + 4 + 28
    np.testing.assert_allclose(maps[0], tokens[0, 5:].reshape(4, 7, 32).permute(2, 0, 1).numpy(), atol=1e-5)
    with_registers = tokens[0, 1:29].reshape(4, 7, 32).permute(2, 0, 1).numpy()
    assert not np.allclose(maps[0], with_registers, atol=1e-3)


def test_region_embedding_averages_the_cells_the_box_covers(dinov3_dir):
    frame = wide_frame()
    embedder = VisualEmbedder(
        EmbeddingConfig(backend="dinov3", weights_dir=str(dinov3_dir), pooling="region", options={"short_side": 80}, **CPU)
    )
    boxes = np.array([[50.0, 10.0, 120.0, 90.0], [0.0, 0.0, 5.0, 5.0]], dtype=np.float32)
    (rows, valid), = embedder.embed_boxes([frame], [boxes])
    fmap = embedder.feature_maps([frame])[0]
    assert fmap.shape == (32, 5, 9)  # 80x144 px: 100 -> 80 = 5 rows, 180 * 0.8 = 144 = 9 columns
    # box 1: x 50..120 of 180 px over 9 columns -> columns 2..5; y 10..90 of 100 px over 5 rows -> rows 0..4
    # box 2: a 5-px corner box still gets its one cell
    expected = l2_normalize(np.stack([fmap[:, 0:5, 2:6].reshape(32, -1).mean(axis=1), fmap[:, 0, 0]]))
    assert valid.all()
    np.testing.assert_allclose(rows, expected, atol=1e-5)


def test_sat493m_mean_and_std_come_from_the_processor_config(dinov3_dir, dinov3_sat_dir):
    images = sample_images(3)
    sat = embedder_for(dinov3_sat_dir).model
    mean, std = mean_std(dinov3_sat_dir)
    assert sat.preprocess.mean == tuple(mean) == (0.430, 0.411, 0.296) and sat.preprocess.std == tuple(std)
    with torch.inference_mode():
        expected = hf_model(dinov3_sat_dir)(pixel_values=pixels(images, 64, mean, std)).pooler_output.numpy()
    np.testing.assert_allclose(sat.encode_crops(images), expected, atol=1e-5)
    lvd = embedder_for(dinov3_dir).model.encode_crops(images)  # same weights, ImageNet mean/std
    assert not np.allclose(sat.encode_crops(images), lvd, atol=1e-3)


# -- dims without weights ---------------------------------------------------------------------------
def test_embedding_dim_from_config_json_alone(dinov3_dir, tmp_path):
    config = json.loads((dinov3_dir / "config.json").read_text())
    config.update(hidden_size=64)
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert EmbeddingConfig(backend="dinov3", weights_dir=str(tmp_path)).embedding_dim == 64


@pytest.mark.parametrize(
    "model, dim",
    [
        (None, 384),
        ("facebook/dinov3-vits16plus-pretrain-lvd1689m", 384),
        ("facebook/dinov3-vitb16-pretrain-lvd1689m", 768),
        ("facebook/dinov3-vitl16-pretrain-sat493m", 1024),
        ("facebook/dinov3-vith16plus-pretrain-lvd1689m", 1280),
        ("facebook/dinov3-vit7b16-pretrain-lvd1689m", 4096),
    ],
)
def test_embedding_dim_of_hub_ids_needs_no_network(model, dim):
    assert EmbeddingConfig(backend="dinov3", model=model).embedding_dim == dim


# -- bad weights ------------------------------------------------------------------------------------
def test_bad_weights_are_one_line_weights_errors(dinov3_dir, tmp_path):
    check_weights_errors("dinov3", dinov3_dir, tmp_path)


def test_a_dinov2_folder_names_the_dinov2_backend(dinov3_dir, tmp_path):
    config = json.loads((dinov3_dir / "config.json").read_text())
    config["model_type"] = "dinov2"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError) as info:
        EmbeddingConfig(backend="dinov3", weights_dir=str(tmp_path))
    one_line_error(info, "'dinov2'", "--backend dinov2")


# -- Meta's original .pth files through timm --------------------------------------------------------
def tiny_timm(arch: str):
    import timm

    torch.manual_seed(2)
    model = timm.create_model(arch, pretrained=False, global_pool="token", **TIMM_TINY).eval()
    with torch.no_grad():  # timm starts layer scale at 1e-5 and biases at 0: make the blocks matter
        for key, value in model.named_parameters():
            if key.endswith(("gamma_1", "gamma_2")):
                value.fill_(0.5)
            elif key.endswith(("q_bias", "v_bias")):
                value.normal_()
    return model


def meta_state_dict(model) -> dict:
    """timm's Eva state dict renamed back to Meta's DINOv3 layout (what dinov3_*_pretrain_*.pth holds)."""
    state = model.state_dict()
    meta = {}
    for key, value in state.items():
        if key.endswith("attn.v_bias"):
            continue
        if key.endswith("attn.q_bias"):  # Meta: one qkv bias, its k third masked to zero
            v_bias = state[key.replace("q_bias", "v_bias")]
            meta[key.replace("q_bias", "qkv.bias")] = torch.cat([value, torch.zeros_like(value), v_bias])
            meta[key.replace("q_bias", "qkv.bias_mask")] = torch.cat([torch.ones_like(value), torch.zeros_like(value), torch.ones_like(v_bias)])
            continue
        meta[key.replace("gamma_1", "ls1.gamma").replace("gamma_2", "ls2.gamma").replace("reg_token", "storage_tokens")] = value
    meta["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
    meta["rope_embed.periods"] = torch.ones(4)
    return meta


@pytest.mark.parametrize(
    "file_name, timm_name, mean",
    [
        ("dinov3_vitl16_pretrain_sat493m-eadcf0ff.pth", "vit_large_patch16_dinov3_qkvb.sat493m", (0.430, 0.411, 0.296)),
        ("dinov3_vits16_pretrain_lvd1689m-08c60483.pth", "vit_small_patch16_dinov3_qkvb.lvd1689m", (0.485, 0.456, 0.406)),
    ],
)
def test_meta_pth_through_timm(tmp_path, file_name, timm_name, mean):
    reference = tiny_timm(timm_name.split(".")[0])
    path = tmp_path / file_name  # Meta's own name: it says architecture and data, hence mean/std
    torch.save(meta_state_dict(reference), path)
    options = {"timm_kwargs": TIMM_TINY, "short_side": 64}
    report = check_backend("dinov3", weights_dir=str(path), options=options)
    assert report["dim"] == 32 and report["feature_grid"] == (4, 6)

    loaded = embedder_for(path, options=options).model
    assert loaded.source.startswith(f"timm {timm_name} ")  # the QKV-bias variant: Meta's biases are kept
    assert loaded.preprocess.mean == mean
    images, frame = sample_images(2), wide_frame()
    with torch.inference_mode():
        cls = reference.forward_features(pixels(images, 224, loaded.preprocess.mean, loaded.preprocess.std))[:, 0]
        tokens = reference.forward_features(pixels_exact(frame, (64, 112), loaded.preprocess.mean, loaded.preprocess.std))
    np.testing.assert_allclose(loaded.encode_crops(images), cls.numpy(), atol=1e-5)
    expected = tokens[0, 5:].reshape(4, 7, 32).permute(2, 0, 1).numpy()
    np.testing.assert_allclose(loaded.encode_frames([frame])[0], expected, atol=1e-5)


def test_meta_file_names_decide_dims_and_reject_convnext(tmp_path):
    for name, dim in (("dinov3_vith16plus_pretrain_lvd1689m-7c1da9a5.pth", 1280), ("dinov3_vit7b16_pretrain_sat493m-a6675841.pth", 4096)):
        (tmp_path / name).write_bytes(b"")  # dims come from the name alone: nothing is read
        assert EmbeddingConfig(backend="dinov3", weights_dir=str(tmp_path / name)).embedding_dim == dim
    convnext = tmp_path / "dinov3_convnext_tiny_pretrain_lvd1689m-21b726bb.pth"
    convnext.write_bytes(b"")
    with pytest.raises(WeightsError) as info:
        EmbeddingConfig(backend="dinov3", weights_dir=str(convnext))
    one_line_error(info, "ConvNeXt", "dinov3_vit")


def test_truncated_pth_is_a_weights_error(tmp_path):
    path = tmp_path / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth"
    torch.save(meta_state_dict(tiny_timm("vit_small_patch16_dinov3_qkvb")), path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(WeightsError) as info:
        embedder_for(path, options={"timm_kwargs": TIMM_TINY})
    one_line_error(info, "truncated")


# -- the hub: gated, offline ----------------------------------------------------------------------------
def test_gated_repo_explains_the_licence_and_login(monkeypatch):
    import httpx2
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(repo_id, **kwargs):
        response = httpx2.Response(403, request=httpx2.Request("GET", f"https://huggingface.co/api/models/{repo_id}"))
        raise GatedRepoError(f"403 Client Error. Cannot access gated repo {repo_id}.", response=response)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(WeightsError) as info:
        VisualEmbedder(EmbeddingConfig(backend="dinov3", **CPU))
    one_line_error(
        info, "facebook/dinov3-vits16-pretrain-lvd1689m is gated", "https://huggingface.co/facebook/dinov3-vits16-pretrain-lvd1689m",
        "hf auth login", "huggingface-cli login", "--weights DIR",
    )  # fmt: skip


def test_offline_without_a_cached_copy_says_download_and_pass_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError) as info:
        VisualEmbedder(EmbeddingConfig(backend="dinov3", model="facebook/dinov3-vitb16-pretrain-lvd1689m", **CPU))
    one_line_error(info, "facebook/dinov3-vitb16-pretrain-lvd1689m", "HF_HUB_OFFLINE", "hf download", "--weights DIR")


def test_backend_info():
    info = orion_dinov3.plugin.backend_info()
    assert info["default_model"] == "facebook/dinov3-vits16-pretrain-lvd1689m"
    assert info["gated"] and "DINOv3 License" in info["licence"]
    assert set(info["models"]) >= {"facebook/dinov3-vitl16-pretrain-sat493m", "facebook/dinov3-vit7b16-pretrain-lvd1689m"}
