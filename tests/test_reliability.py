"""Reliability (issue 6): every bad input is one `Error:` line and exit 2, odd inputs work,
interrupts and full disks leave nothing that looks like a result, and the source stays safe.

Most cases run the real console entry point in-process (fast); signals and the real stderr
of a fresh process need a subprocess.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

import orion_core
from orion_core import hookimpl
from orion_core.cli import main
from orion_core.plugins import register_backend, unregister_backend
from orion_core.video import VideoWriter

from fakes import make_backend
from trust_helpers import assert_one_error_line, orion

REPO = Path(__file__).resolve().parents[1]
EPISODE = "ep"
SIZE = (64, 96)  # height, width of the tiny test video
FRAMES = 10
BOX = (20, 30)  # width, height of the moving block


# -- inputs -------------------------------------------------------------------------------------
def block_x(i: int) -> int:
    return 10 + 3 * i


def scene_frame(i: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A grey frame with one bright block moving right, so tracks get confirmed."""
    image = np.full((*size, 3), 60, np.uint8)
    x = block_x(i) % max(size[1] - BOX[0], 1)
    image[10 : 10 + BOX[1], x : x + BOX[0]] = (220, 120, 40)
    return image


def det_line(frame: int, left: float, top: float, w: float, h: float, score: float = 0.9) -> str:
    return f"{frame},-1,{left},{top},{w},{h},{score},-1,-1,-1\n"


def write_video(path: Path, frames: int, size: tuple[int, int] = SIZE, fps: float = 10.0, noise: bool = False) -> Path:
    """Noise frames cost bytes each, so cutting the file in half loses about half of them."""
    rng = np.random.default_rng(0)
    with VideoWriter(path, fps) as writer:
        for i in range(frames):
            writer.write(rng.integers(0, 256, (*size, 3), dtype=np.uint8) if noise else scene_frame(i, size))
    return path


def write_pyav(path: Path, size: tuple[int, int], pts_ms: list[int], codec: str, noise: bool = False) -> Path:
    """Matroska with exact millisecond timestamps and any size (ffv1 takes odd ones): VFR and odd frames."""
    height, width = size
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream(codec)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        for i, pts in enumerate(pts_ms):
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if noise else scene_frame(i, size)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def save_tiny_dinov2(folder: Path) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.Dinov2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=28, patch_size=14
    )
    tf.Dinov2Model(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("inputs")
    p = SimpleNamespace(root=root)
    p.video = write_video(root / "v.mp4", FRAMES)
    p.det = root / "det.txt"
    p.det.write_text("".join(det_line(i + 1, block_x(i), 10, *BOX) for i in range(FRAMES)))
    # bad videos
    p.empty_video = root / "empty.mp4"
    p.empty_video.write_bytes(b"")
    p.text_video = root / "notes.mp4"
    p.text_video.write_text("not a video, just text\n" * 50)
    whole = write_video(root / "whole.avi", 5)
    data = whole.read_bytes()
    p.no_frames = root / "header_only.avi"
    p.no_frames.write_bytes(data[: data.index(b"movi") + 4])  # header survives, no frame data
    # bad detections
    p.empty_det = root / "empty_det.txt"
    p.empty_det.write_text("")
    p.cols_det = root / "cols.txt"
    p.cols_det.write_text(det_line(1, 10, 10, 20, 30) + "2,-1,10,10\n")
    p.text_det = root / "words.txt"
    p.text_det.write_text(det_line(1, 10, 10, 20, 30) + det_line(2, 10, 10, 20, 30) + "3,-1,ten,10,20,30,0.9\n")
    p.neg_det = root / "negative.txt"
    p.neg_det.write_text(det_line(1, 10, 10, 20, 30) + "-4,-1,10,10,20,30,0.9,-1,-1,-1\n")
    # bad configs
    p.yaml_syntax = root / "syntax.yaml"
    p.yaml_syntax.write_text("perception:\n  embedding: {backend: histogram\n")
    p.yaml_unknown = root / "unknown.yaml"
    p.yaml_unknown.write_text("perception:\n  embedding:\n    bakend: histogram\n")
    p.yaml_type = root / "type.yaml"
    p.yaml_type.write_text("perception:\n  embedding:\n    batch_size: many\n")
    p.yaml_section = root / "section.yaml"
    p.yaml_section.write_text("perception:\n  trackers: {}\n")
    p.yaml_detector = root / "detector.yaml"
    p.yaml_detector.write_text("perception:\n  detection:\n    detector: rcnn\n")
    p.a_file = root / "a_file"
    p.a_file.write_text("x")
    # weights
    p.dino = save_tiny_dinov2(root / "dinov2-tiny")
    p.dino_truncated = root / "dinov2-truncated"
    shutil.copytree(p.dino, p.dino_truncated)
    weights = p.dino_truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    p.dino_bad_config = root / "dinov2-bad-config"
    shutil.copytree(p.dino, p.dino_bad_config)
    (p.dino_bad_config / "config.json").write_text('{"model_type": "dinov2", "hidden_size": 32,,}')
    p.dino_garbage = root / "dinov2-garbage"
    shutil.copytree(p.dino, p.dino_garbage)
    (p.dino_garbage / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))
    p.yolo_garbage = root / "garbage.pt"
    p.yolo_garbage.write_bytes(b"PK\x03\x04 not really a zip" * 10)
    p.vjepa = root / "vjepa2-folder"
    p.vjepa.mkdir()
    (p.vjepa / "config.json").write_text(json.dumps({"model_type": "vjepa2", "hidden_size": 32}))
    return p


@pytest.fixture
def paths(inputs, tmp_path) -> SimpleNamespace:
    return SimpleNamespace(**vars(inputs), out=tmp_path / "out")


# -- running the CLI ----------------------------------------------------------------------------
def assert_nothing_written(out: Path, episode: str = EPISODE) -> None:
    """No result folder, no staging left behind, and no complete-looking run.json anywhere."""
    assert not (out / episode).exists()
    if out.exists():
        assert [p.name for p in out.iterdir()] == [], list(out.iterdir())
    for run_json in out.rglob("run.json") if out.exists() else []:
        assert json.loads(run_json.read_text()).get("complete") is not True


def run_args(p: SimpleNamespace, *extra, video=None, det=None, backend: str | None = "histogram") -> list:
    argv = ["run", video or p.video, "--out", p.out, "--episode", EPISODE]
    if det is not False:
        argv += ["--detections", det or p.det]
    if backend:
        argv += ["--backend", backend]
    return argv + list(extra)


# -- bad inputs: one line, exit 2, nothing written ------------------------------------------------
BAD_RUNS = {
    # video
    "video-missing": (lambda p: run_args(p, video=p.root / "missing.mp4"), ["missing.mp4", "does not exist"]),
    "video-directory": (lambda p: run_args(p, video=p.root), ["is a directory"]),
    "video-empty": (lambda p: run_args(p, video=p.empty_video), ["empty.mp4", "is empty"]),
    "video-not-a-video": (lambda p: run_args(p, video=p.text_video), ["notes.mp4", "not a video"]),
    "video-no-decodable-frames": (lambda p: run_args(p, video=p.no_frames), ["header_only.avi", "no decodable video frames"]),
    # detections
    "det-missing": (lambda p: run_args(p, det=p.root / "nodet.txt"), ["nodet.txt", "does not exist"]),
    "det-empty": (lambda p: run_args(p, det=p.empty_det), ["empty_det.txt", "no detections"]),
    "det-columns": (lambda p: run_args(p, det=p.cols_det), ["cols.txt line 2", "at least 7", "got 4"]),
    "det-not-numeric": (lambda p: run_args(p, det=p.text_det), ["words.txt line 3 column 3", "'ten' is not a number"]),
    "det-negative-frame": (lambda p: run_args(p, det=p.neg_det), ["negative.txt line 2", "frame number '-4'"]),
    # config
    "yaml-syntax": (lambda p: run_args(p, "--config", p.yaml_syntax), ["syntax.yaml", "not valid YAML", "line"]),
    "yaml-unknown-key": (lambda p: run_args(p, "--config", p.yaml_unknown), ["perception.embedding.bakend", "unknown key"]),
    "yaml-wrong-type": (lambda p: run_args(p, "--config", p.yaml_type), ["perception.embedding.batch_size", "expected int", "'many'"]),
    "yaml-unknown-section": (lambda p: run_args(p, "--config", p.yaml_section), ["perception.trackers", "unknown section"]),
    "yaml-missing": (lambda p: run_args(p, "--config", p.root / "nope.yaml"), ["nope.yaml", "does not exist"]),
    "yaml-directory": (lambda p: run_args(p, "--config", p.root), ["is a directory"]),
    "option-wrong-type": (lambda p: run_args(p, "--batch-size", "many"), ["--batch-size", "'many'", "orion run --help"]),
    "option-out-of-range": (lambda p: run_args(p, "--max-frames", "0"), ["video.max_frames", "positive integer"]),
    # names
    "backend-unknown": (lambda p: run_args(p, backend="nosuch"), ["unknown backend 'nosuch'", "histogram"]),
    "detector-unknown": (lambda p: run_args(p, "--detector", "rcnn", det=False), ["--detector", "'rcnn'", "yolo"]),
    "detector-unknown-yaml": (lambda p: run_args(p, "--config", p.yaml_detector, det=False), ["detection.detector", "'rcnn'"]),
    "preset-unknown": (lambda p: run_args(p, "--preset", "dinov9", backend=None), ["unknown preset 'dinov9'", "dinov2"]),
    # weights
    "weights-nowhere": (
        lambda p: run_args(p, "--weights", p.root / "nowhere", "--device", "cpu", backend="dinov2"),
        ["nowhere", "does not exist"],
    ),
    "weights-a-file": (lambda p: run_args(p, "--weights", p.a_file, "--device", "cpu", backend="dinov2"), ["a_file", "is a file"]),
    "weights-other-family": (
        lambda p: run_args(p, "--weights", p.vjepa, "--device", "cpu", backend="dinov2"),
        ["vjepa2-folder", "'vjepa2'", "--backend vjepa2"],
    ),
    "weights-truncated": (
        lambda p: run_args(p, "--weights", p.dino_truncated, "--device", "cpu", backend="dinov2"),
        ["model.safetensors", "truncated"],
    ),
    "weights-corrupt-safetensors": (
        lambda p: run_args(p, "--weights", p.dino_garbage, "--device", "cpu", backend="dinov2"),
        ["dinov2-garbage/model.safetensors", "broken safetensors header"],
    ),
    "yolo-weights-corrupt": (
        lambda p: run_args(p, "--detector", "yolo", "--detector-model", p.yolo_garbage, det=False),
        ["garbage.pt", "could not load YOLO weights"],
    ),
    "yolo-weights-offline": (
        lambda p: run_args(p, "--detector", "yolo", "--detector-model", "yolo-never-cached.pt", det=False),
        ["yolo-never-cached.pt", "downloads are off"],
    ),
    "weights-corrupt-config": (
        lambda p: run_args(p, "--weights", p.dino_bad_config, "--device", "cpu", backend="dinov2"),
        ["config.json line 1", "not valid JSON"],
    ),
    # outputs
    "out-is-a-file": (lambda p: run_args(p)[:2] + ["--out", p.a_file] + run_args(p)[4:], ["a_file", "is a file"]),
    "out-under-a-file": (lambda p: run_args(p)[:2] + ["--out", p.a_file / "sub"] + run_args(p)[4:], ["a_file", "which is a file"]),
    "episode-parent": (lambda p: run_args(p)[:5] + ["../escaped"] + run_args(p)[6:], ["'../escaped'", "not allowed"]),
    "episode-slash": (lambda p: run_args(p)[:5] + ["a/b"] + run_args(p)[6:], ["'a/b'", "not allowed"]),
    "episode-hidden": (lambda p: run_args(p)[:5] + [".hidden"] + run_args(p)[6:], ["'.hidden'", "not allowed"]),
    # conflicting options
    "mot-without-detections": (lambda p: run_args(p, "--detector", "mot", det=False), ["detector 'mot' needs a detections file"]),
    "detections-with-yolo": (lambda p: run_args(p, "--detector", "yolo"), ["--detections is read only by --detector mot"]),
    "detector-model-with-mot": (lambda p: run_args(p, "--detector-model", "x.pt"), ["--detector-model is read only by --detector yolo"]),
    "region-pooling-without-maps": (lambda p: run_args(p, "--pooling", "region"), ["'histogram' has no feature maps", "--pooling crop"]),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_input_is_one_error_line_and_exit_2(case, paths, capsys, caplog):
    build, words = BAD_RUNS[case]
    code, out, err = orion(build(paths), capsys)
    assert code == 2, (out, err)
    assert_one_error_line(err, *words)
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")], caplog.records  # more stderr lines
    assert_nothing_written(paths.out)


def test_unreadable_video(paths, capsys, monkeypatch):
    video = paths.root / "locked.mp4"
    shutil.copy(paths.video, video)
    video.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads anything: make FFmpeg answer as it does for a locked file

            def denied(path, *args, **kwargs):
                raise av.error.PermissionError(errno.EACCES, "Permission denied", str(path))

            monkeypatch.setattr(av, "open", denied)
        code, _, err = orion(run_args(paths, video=video), capsys)
    finally:
        video.chmod(0o644)
    assert code == 2
    assert_one_error_line(err, "locked.mp4", "not readable", "permissions")
    assert_nothing_written(paths.out)


def test_video_in_a_folder_that_cannot_be_entered(paths, capsys, monkeypatch):
    video = paths.root / "private" / "v.mp4"
    real_stat = Path.stat

    def stat(self, *args, **kwargs):  # what stat() does under a 0700 folder of another user
        if self == video:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    code, _, err = orion(run_args(paths, video=video), capsys)
    assert code == 2
    assert_one_error_line(err, "private/v.mp4", "cannot be accessed", "Permission denied")


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs a read-only /sys")
def test_output_folder_that_cannot_be_created(paths, capsys):
    argv = run_args(paths)
    argv[3] = "/sys/orion-reliability-test/out"
    code, _, err = orion(argv, capsys)
    assert code == 2
    assert_one_error_line(err, "cannot create output folder /sys/orion-reliability-test/out", "choose another --out")
    assert not Path("/sys/orion-reliability-test").exists()


def test_missing_video_fails_before_any_model_loads(paths, capsys, monkeypatch):
    import orion_core.detectors
    import orion_core.embedder

    def must_not_run(*args, **kwargs):
        raise AssertionError("a model was loaded before the video was checked")

    monkeypatch.setattr(orion_core.embedder.VisualEmbedder, "__init__", must_not_run)
    monkeypatch.setattr(orion_core.detectors, "make_detector", must_not_run)
    code, _, err = orion(["run", paths.root / "missing.mp4", "--backend", "dinov2", "--out", paths.out], capsys)
    assert code == 2
    assert_one_error_line(err, "missing.mp4", "does not exist")


# -- misbehaving backend plugins -----------------------------------------------------------------
def _dim_hook(value):
    @hookimpl
    def embedding_dim(config):
        return value

    return embedding_dim


def _failing_load(config):
    raise OSError("cannot open /models/fake.bin")


PLUGINS = {
    "raises": (
        dict(fail=RuntimeError("CUDA out of memory\nsecond line of the plugin's message")),
        ["backend 'fake-raises'", "encode_batch failed", "RuntimeError", "CUDA out of memory second line"],
    ),
    "wrong-dimension": (dict(result=lambda images: np.ones((len(images), 3), np.float32)), ["backend 'fake-wrong-dimension'", "shape (", ", 3)", "expected ("]),
    "wrong-rows": (dict(result=lambda images: np.ones((len(images) + 1, 8), np.float32)), ["backend 'fake-wrong-rows'", "encode_batch returned shape"]),
    "wrong-ndim": (dict(result=lambda images: np.ones(len(images), np.float32)), ["backend 'fake-wrong-ndim'", "returned shape"]),
    "nan": (dict(result=lambda images: np.full((len(images), 8), np.nan, np.float32)), ["backend 'fake-nan'", "NaN"]),
    "none": (dict(result=lambda images: None), ["backend 'fake-none'", "returned None"]),
    "all-zero": (dict(result=lambda images: np.zeros((len(images), 8), np.float32)), ["backend 'fake-all-zero'", "all-zero"]),
    "bad-dim-hook": ("embedding_dim", ["backend 'fake-bad-dim-hook'", "embedding_dim returned 'big'"]),
    "load-fails": ("load_embedder", ["backend 'fake-load-fails'", "load_embedder failed", "OSError", "/models/fake.bin"]),
}


@pytest.mark.parametrize("case", list(PLUGINS))
def test_misbehaving_plugin_is_named_with_what_it_returned(case, paths, capsys, caplog):
    spec, words = PLUGINS[case]
    if spec == "embedding_dim":
        module = make_backend()
        module.embedding_dim = _dim_hook("big")
    elif spec == "load_embedder":
        module = make_backend()
        module.load_embedder = hookimpl(_failing_load)
    else:
        module = make_backend(**spec)
    name = f"fake-{case}"
    register_backend(name, module)
    try:
        code, out, err = orion(run_args(paths, backend=name), capsys)
    finally:
        unregister_backend(name)
    assert code == 2, (out, err)
    assert_one_error_line(err, *words)
    assert_nothing_written(paths.out)


# -- odd but valid inputs -------------------------------------------------------------------------
def finished_run(p: SimpleNamespace, capsys, *extra, video=None, det=None) -> dict:
    code, out, err = orion(run_args(p, *extra, video=video, det=det), capsys)
    assert code == 0, err
    assert "Traceback" not in err and "Error" not in err
    folder = p.out / EPISODE
    run = json.loads((folder / "run.json").read_text())
    assert run["complete"] is True
    assert sorted(x.name for x in p.out.iterdir()) == [EPISODE]  # no staging left
    rows = (folder / "tracks.txt").read_text().splitlines()
    counts = run["counts"]
    assert len(rows) == counts["observations"] + counts["interpolated"] == len((folder / "tracks.jsonl").read_text().splitlines())
    assert np.load(folder / "embeddings.npy").shape == (len(rows), 768)
    run["rows"] = [[float(v) for v in row.split(",")] for row in rows]
    return run


def test_boxes_outside_the_frame_and_zero_area_are_dropped_with_a_warning(paths, capsys, caplog):
    det = paths.root / "odd_boxes.txt"
    lines = []
    for i in range(FRAMES):
        lines.append(det_line(i + 1, -10, 10, 30, 30))  # partly outside: clipped to x >= 0
        lines.append(det_line(i + 1, 500, 500, 20, 20))  # wholly outside
        lines.append(det_line(i + 1, 40, 20, 0, 10))  # zero width
    det.write_text("".join(lines))
    run = finished_run(paths, capsys, det=det)
    assert run["counts"]["dropped_boxes"] == 2 * FRAMES and run["counts"]["detections"] == FRAMES
    assert run["rows"] and all(row[2] >= 0 and row[2] + row[4] <= SIZE[1] for row in run["rows"])
    assert any("20 of 30 boxes were ignored" in w for w in run["warnings"])
    assert any("20 of 30 boxes were ignored" in r.getMessage() for r in caplog.records)


def test_frames_without_detections_are_fine(paths, capsys):
    det = paths.root / "gaps.txt"
    det.write_text("".join(det_line(i + 1, block_x(i), 10, *BOX) for i in range(FRAMES) if i not in (4, 5)))
    run = finished_run(paths, capsys, det=det)
    assert run["counts"]["frames"] == FRAMES and run["counts"]["detections"] == FRAMES - 2
    # the two empty frames are bridged by the offline pass's gap filling, and only by it
    in_gap = [row for row in run["rows"] if int(row[0]) in (5, 6)]
    assert len(in_gap) == run["counts"]["interpolated"] == 2
    assert run["warnings"] == []


def test_video_without_any_detection_gives_empty_complete_outputs(paths, capsys, caplog):
    det = paths.root / "other_video.txt"
    det.write_text(det_line(FRAMES + 100, 10, 10, 20, 30))
    run = finished_run(paths, capsys, det=det)
    folder = paths.out / EPISODE
    assert run["rows"] == [] and run["counts"]["frames"] == FRAMES
    assert json.loads((folder / "memory.json").read_text()) == {"entities": []}
    assert np.load(folder / "embeddings.npy").shape == (0, 768)
    assert any("no detections in 10 frames" in w for w in run["warnings"])
    assert any("1 of 1 boxes on frames after the video's last frame (10" in w for w in run["warnings"])
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 2


@pytest.mark.parametrize("kind", ["avi", "mkv"])
def test_truncated_video_processes_what_decodes_and_records_it(paths, capsys, caplog, kind):
    if kind == "avi":
        whole = write_video(paths.root / "long.avi", 60, noise=True)
    else:  # no frame count in a Matroska header: the cut is seen from timestamps against the duration
        whole = write_pyav(paths.root / "long.mkv", SIZE, [100 * i for i in range(60)], "ffv1", noise=True)
    det = paths.root / "long.txt"
    det.write_text("".join(det_line(i + 1, 10, 10, *BOX) for i in range(60)))
    cut = paths.root / f"cut.{kind}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    run = finished_run(paths, capsys, video=cut, det=det)
    assert run["video"]["truncated"] is True and "truncated" in run["video"]["error"]
    assert 10 < run["counts"]["frames"] < 60
    assert run["video"]["frame_count"] == (60 if kind == "avi" else None)
    assert run["video"]["frames_decoded"] == run["counts"]["frames"]
    assert any(w.startswith("video truncated") for w in run["warnings"])
    assert not any("after the video's last frame" in w for w in run["warnings"])  # not blamed on det.txt
    assert sum("truncated" in r.getMessage() for r in caplog.records) == 1  # said once


@pytest.mark.parametrize(
    "name, size, frames",
    [("portrait", (160, 90), 12), ("one-frame", SIZE, 1), ("odd-size", (61, 97), 12)],
)
def test_portrait_odd_sized_and_one_frame_videos(paths, capsys, name, size, frames):
    if name == "odd-size":  # VideoWriter pads to even sizes; ffv1 keeps 97x61 exactly
        video = write_pyav(paths.root / f"{name}.mkv", size, [100 * i for i in range(frames)], "ffv1")
    else:
        video = write_video(paths.root / f"{name}.mp4", frames, size)
    det = paths.root / f"{name}.txt"
    det.write_text("".join(det_line(i + 1, 5, 10, 20, 30) for i in range(frames)))
    run = finished_run(paths, capsys, video=video, det=det)
    assert (run["video"]["height"], run["video"]["width"]) == size
    assert run["counts"]["frames"] == frames and run["counts"]["detections"] == frames
    assert run["video"]["truncated"] is False and run["warnings"] == []
    assert frames - 2 <= run["counts"]["observations"] <= frames  # min_hits may hold back the first two


def test_variable_frame_rate_keeps_real_timestamps(paths, capsys):
    pts_ms = [0, 40, 50, 300, 310, 320, 900, 1000, 1033, 1500, 1510, 2400]
    video = write_pyav(paths.root / "vfr.mkv", SIZE, pts_ms, "libx264")
    det = paths.root / "vfr.txt"
    det.write_text("".join(det_line(i + 1, block_x(i), 10, *BOX) for i in range(len(pts_ms))))
    run = finished_run(paths, capsys, video=video, det=det)
    assert run["video"]["truncated"] is False  # a declared 24 fps x 2.4 s is not a promise of 58 frames
    times = {json.loads(line)["frame"]: json.loads(line)["time_s"] for line in (paths.out / EPISODE / "tracks.jsonl").open()}
    assert times and all(times[f] == pytest.approx(pts_ms[f - 1] / 1000, abs=1e-3) for f in times)
    code, _, err = orion(run_args(paths, "--fps", "2", video=video, det=det), capsys)  # sampling by time, VFR-safe
    assert code == 0, err
    assert json.loads((paths.out / EPISODE / "run.json").read_text())["counts"]["frames"] == 5


# -- faults: crashes, full disks, interrupts --------------------------------------------------------
def test_crash_mid_run_leaves_no_tracks_file(paths, capsys, monkeypatch):
    import orion_core.tracking

    class CrashingTracker(orion_core.tracking.Tracker):
        def update(self, frame_index, *args, **kwargs):
            if frame_index == 6:
                raise RuntimeError("simulated bug")
            return super().update(frame_index, *args, **kwargs)

    monkeypatch.setattr(orion_core.tracking, "Tracker", CrashingTracker)
    with pytest.raises(RuntimeError, match="simulated bug"):  # a bug keeps its traceback, but writes nothing
        main([str(a) for a in run_args(paths)])
    assert_nothing_written(paths.out)


def test_plugin_failing_mid_run_leaves_nothing(paths, capsys):
    calls: list[int] = []

    def flaky(images):
        if len(calls) > 3:
            raise RuntimeError("device lost")
        calls.append(len(images))
        return np.ones((len(images), 8), np.float32)

    register_backend("fake-flaky", make_backend(result=flaky))
    try:
        code, _, err = orion(run_args(paths, "--batch-size", "1", backend="fake-flaky"), capsys)
    finally:
        unregister_backend("fake-flaky")
    assert code == 2 and len(calls) == 4
    assert_one_error_line(err, "backend 'fake-flaky'", "device lost")
    assert_nothing_written(paths.out)


class FullDisk:
    """A file whose writes fail with ENOSPC once `budget` bytes are spent (a tiny disk, simulated)."""

    def __init__(self, handle, budget: list[int]) -> None:
        self._handle, self._budget = handle, budget

    def write(self, data):
        self._budget[0] -= len(data)
        if self._budget[0] < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


@pytest.mark.parametrize(
    "fails_on, budget",
    [
        ("tracks.txt", 100),  # mid-run, while observations stream out
        ("embeddings.f32", 4096),  # mid-run, a few embeddings in
        ("embeddings.npy", 4096),  # while the embeddings are finished at the end
        (".memory.json.tmp", 5),  # at commit
        ("1.jpg", 10),  # a thumbnail
    ],
)
def test_disk_full_is_an_error_not_a_short_file(paths, capsys, monkeypatch, fails_on, budget):
    import builtins

    import orion_core.outputs

    left = [budget]

    def open_on_a_small_disk(file, mode="r", *args, **kwargs):
        handle = builtins.open(file, mode, *args, **kwargs)
        return FullDisk(handle, left) if Path(file).name == fails_on and "r" not in mode else handle

    monkeypatch.setattr(orion_core.outputs, "open", open_on_a_small_disk, raising=False)
    code, _, err = orion(run_args(paths), capsys)
    assert code == 2, err
    assert left[0] < 0  # the simulated disk did fill up
    assert_one_error_line(err, f"disk full while writing {paths.out / EPISODE}", "free some space")
    assert_nothing_written(paths.out)


def test_rerun_replaces_the_previous_result_cleanly(paths, capsys):
    first = finished_run(paths, capsys)
    second = finished_run(paths, capsys, "--max-frames", "5")
    assert first["counts"]["frames"] == FRAMES and second["counts"]["frames"] == 5
    assert max(row[0] for row in second["rows"]) <= 5
    assert sorted(p.name for p in paths.out.iterdir()) == [EPISODE]  # no .old or .partial folders


SLOW_RUN = """
import sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from fakes import make_backend
from orion_core.plugins import register_backend
from orion_core.cli import main

def slow(images):
    time.sleep({delay})
    return np.ones((len(images), 8), np.float32)

register_backend("slow", make_backend(result=slow))
main()  # as the `orion` command: argv from sys.argv
"""


@pytest.fixture(scope="module")
def long_input(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("long")
    frames = 400
    video = write_video(root / "long.mp4", frames)
    det = root / "long.txt"
    det.write_text("".join(det_line(i + 1, 5, 10, *BOX) for i in range(frames)))
    return SimpleNamespace(video=video, det=det, frames=frames)


def script_command(script: Path, text: str, backend: str, long_input, out: Path, *extra: str) -> list[str]:
    """`orion run` on the long clip through `script` (a CLI entry that registers `backend` first)."""
    script.write_text(text)
    return [
        sys.executable, str(script), "run", str(long_input.video), "--detections", str(long_input.det),
        "--backend", backend, "--batch-size", "1", "--out", str(out), "--episode", EPISODE, *extra,
    ]  # fmt: skip


def slow_command(tmp_path: Path, long_input, out: Path, delay: float, *extra: str) -> list[str]:
    text = SLOW_RUN.format(tests=str(Path(__file__).parent), delay=delay)
    return script_command(tmp_path / "slow_run.py", text, "slow", long_input, out, *extra)


def wait_for_staging(out: Path, proc: subprocess.Popen, limit_s: float = 180.0) -> None:
    """Until the run is writing (models loaded, staging folder made): the interrupt lands mid-run."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if out.exists() and any(p.name.startswith(f".{EPISODE}.partial-") for p in out.iterdir()):
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before it was interrupted: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("run never started writing")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_stops_fast_leaves_nothing_and_a_rerun_completes(tmp_path, long_input, signum):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(slow_command(tmp_path, long_input, out, 0.02), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_staging(out, proc)
    time.sleep(0.5)
    proc.send_signal(signum)
    sent = time.monotonic()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert stopped_after < 30.0, stopped_after  # typically well under a second; a loaded machine only delays it (a bound, not a speed claim)
    assert "Traceback" not in err and err.strip().splitlines() == ["Interrupted."], err
    assert_nothing_written(out)

    rerun = subprocess.run(slow_command(tmp_path, long_input, out, 0.0, "--max-frames", "30"), capture_output=True, text=True, env=env)
    assert rerun.returncode == 0, rerun.stderr
    run = json.loads((out / EPISODE / "run.json").read_text())
    assert run["complete"] is True and run["counts"]["frames"] == 30
    assert sorted(p.name for p in out.iterdir()) == [EPISODE]


def test_interrupted_rerun_keeps_the_previous_result(tmp_path, long_input):
    out = tmp_path / "out"
    first = subprocess.run(slow_command(tmp_path, long_input, out, 0.0, "--max-frames", "20"), capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_bytes() for p in (out / EPISODE).iterdir() if p.is_file()}
    proc = subprocess.Popen(slow_command(tmp_path, long_input, out, 0.02), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_staging(out, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (out / EPISODE).iterdir() if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == [EPISODE]


TORCH_RUN = """
import sys, time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, {tests!r})
from fakes import make_backend
from orion_core.plugins import register_backend
from orion_core.cli import main

def forward(images):
    Path({marker!r}).touch()  # the test interrupts once a forward is under way
    a = torch.randn(256, 256)
    deadline = time.monotonic() + 600.0  # a long model forward (many native calls), far longer than any wait below
    while time.monotonic() < deadline:
        a = torch.tanh(a @ a)
    return np.ones((len(images), 8), np.float32)

register_backend("torchy", make_backend(result=forward))
main()
"""


def test_interrupt_during_a_torch_forward_exits_130_not_an_abort(tmp_path, long_input):
    """Ctrl-C while the embedding worker is inside torch: the worker is not waited for, and left
    running while the interpreter finalizes it aborted the process from inside torch ("terminate
    called without an active exception", exit -6). The command ends at once instead: 130, one line."""
    out, marker = tmp_path / "out", tmp_path / "forward-started"
    text = TORCH_RUN.format(tests=str(Path(__file__).parent), marker=str(marker))
    # policy `all` embeds in the detect worker, as a YOLO detector always runs there
    command = script_command(tmp_path / "torch_run.py", text, "torchy", long_input, out, "--embed-policy", "all")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180.0
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), proc.communicate()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)  # the forward alone runs 600 s: nobody waited for it
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, (proc.returncode, err)
    assert err.strip().splitlines() == ["Interrupted."], err
    assert_nothing_written(out)


LIBRARY_EXIT = """
import threading, time
import torch
from orion_core.stages import Prefetch

started = threading.Event()

def items():
    started.set()
    a = torch.randn(256, 256)
    deadline = time.monotonic() + 10.0  # one item takes a 10 s forward (under AT_EXIT_JOIN_S)
    while time.monotonic() < deadline:
        a = torch.tanh(a @ a)
    yield a

work = Prefetch(items, 1, "orion-forward")
started.wait()
work.close(join_s=0.0)  # a host stops the stage and ends its program normally
print("alive at exit:", work.alive)
"""


def test_a_program_that_ends_while_a_stage_worker_is_in_torch_exits_cleanly(tmp_path):
    """Library use (no CLI): the interpreter's exit waits for a stopped worker's item in hand
    instead of tearing the thread down inside torch (SIGABRT)."""
    script = tmp_path / "library_exit.py"
    script.write_text(LIBRARY_EXIT)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "alive at exit: True" and "terminate called" not in proc.stderr


SWALLOWING_RUN = """
import os, signal, sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from fakes import make_backend
from orion_core.plugins import register_backend
from orion_core.cli import main

calls = []

def swallowing(images):
    calls.append(len(images))
    if len(calls) == 1:  # Ctrl-C arrives while a library's bare except is on the stack
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # the handler runs here
        except BaseException:
            pass
    return np.ones((len(images), 8), np.float32)

register_backend("swallowing", make_backend(result=swallowing))
main()
"""


def test_an_interrupt_a_library_swallows_still_stops_the_run(tmp_path, long_input):
    """Python raises Ctrl-C's KeyboardInterrupt wherever the main thread is; a library's bare
    `except:` (around an optional import, say) can swallow it. The run must stop all the same:
    exit 130, nothing written. Before, it ran to the end and exited 0 (a rare CI flake: the
    interrupt test that signals at the first sign of the staging folder)."""
    out = tmp_path / "out"
    text = SWALLOWING_RUN.format(tests=str(Path(__file__).parent))
    command = script_command(tmp_path / "swallowing_run.py", text, "swallowing", long_input, out)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)  # a bound, not a speed claim
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip().splitlines()[-1] == "Interrupted.", proc.stderr
    assert_nothing_written(out)


# -- the same rule in a fresh process, and in the other commands -----------------------------------
@pytest.mark.parametrize(
    "case",
    ["video-missing", "det-columns", "detector-unknown", "episode-parent"],
)
def test_real_stderr_is_one_line(case, paths):
    build, words = BAD_RUNS[case]
    result = subprocess.run([sys.executable, "-m", "orion_core", *map(str, build(paths))], capture_output=True, text=True)
    assert result.returncode == 2
    assert_one_error_line(result.stderr, *words)
    assert result.stdout == ""


OTHER_COMMANDS = {
    "eval-missing-gt": (lambda p: ["eval", "--gt", p.root / "nogt.txt", "--pred", p.det], ["nogt.txt", "does not exist"]),
    "eval-bad-line": (lambda p: ["eval", "--gt", p.cols_det, "--pred", p.det], ["cols.txt, line 2", "columns"]),
    "eval-bad-frames": (lambda p: ["eval", "--gt", p.det, "--pred", p.det, "--frames", "x-y"], ["--frames 'x-y'"]),
    "eval-no-gt-option": (lambda p: ["eval", "--pred", p.det], ["Missing option '--gt'", "orion eval --help"]),
    "verify-missing": (lambda p: ["weights", "verify", p.root / "nowhere"], ["nowhere", "does not exist"]),
    "verify-truncated": (lambda p: ["weights", "verify", p.dino_truncated], ["model.safetensors", "truncated"]),
    "verify-wrong-backend": (lambda p: ["weights", "verify", p.dino, "--backend", "vjepa2"], ["dinov2", "vjepa2"]),
    "verify-not-weights": (lambda p: ["weights", "verify", p.a_file], ["a_file"]),
    "plugins-bad-option": (lambda p: ["plugins", "--bogus"], ["--bogus", "orion plugins --help"]),
    "unknown-command": (lambda p: ["frobnicate"], ["frobnicate"]),
}


@pytest.mark.parametrize("case", list(OTHER_COMMANDS))
def test_other_commands_follow_the_one_line_rule(case, paths, capsys):
    build, words = OTHER_COMMANDS[case]
    code, out, err = orion(build(paths), capsys)
    assert code == 2, (out, err)
    assert_one_error_line(err, *words)


# -- security: what the source may never do ----------------------------------------------------------
def _source_files() -> list[Path]:
    roots = [Path(orion_core.__file__).parent] + sorted((REPO / "plugins").glob("orion-*"))
    files = []
    for root in roots:
        for path in root.rglob("*.py"):
            if not any(part in ("build", "dist") or part.endswith(".egg-info") for part in path.relative_to(root).parts):
                files.append(path)
    return files


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _unsafe_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        keywords = {k.arg: k.value for k in node.keywords if k.arg}

        def is_true(key: str) -> bool:
            return isinstance(keywords.get(key), ast.Constant) and keywords[key].value is True

        if is_true("trust_remote_code"):
            found.append((node.lineno, "trust_remote_code=True"))
        if name == "torch.load" and not is_true("weights_only"):
            found.append((node.lineno, "torch.load( without weights_only=True"))
        if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load", "pickle.load", "pickle.loads"):
            found.append((node.lineno, name))
        if "shell" in keywords and not (isinstance(keywords["shell"], ast.Constant) and keywords["shell"].value is False):
            found.append((node.lineno, "shell=True"))
        if name in ("os.system", "os.popen", "eval", "exec"):
            found.append((node.lineno, name))
    return found


def test_source_tree_has_no_unsafe_loading_or_shell():
    files = _source_files()
    assert len(files) > 20 and any("orion_dinov2" in str(f) for f in files)
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        problems += [f"{path.relative_to(REPO)}:{line}: {what}" for line, what in _unsafe_calls(ast.parse(text))]
        if "trust_remote_code=True" in text:  # also in strings/kwargs dicts the AST check cannot see
            problems.append(f"{path.relative_to(REPO)}: trust_remote_code=True")
    assert problems == []


def test_the_security_check_catches_each_pattern():
    bad = (
        "torch.load(p)\ntorch.load(p, weights_only=False)\nyaml.load(s)\nsubprocess.run(cmd, shell=True)\n"
        "os.system(cmd)\nAutoModel.from_pretrained(x, trust_remote_code=True)\ntorch.load(p, weights_only=True)\n"
        "yaml.safe_load(s)\nsubprocess.run(['ls'], shell=False)\n"
    )
    assert [line for line, _ in _unsafe_calls(ast.parse(bad))] == [1, 2, 3, 4, 5, 6]


def test_offline_switches_stop_downloads(monkeypatch):
    """HF_HUB_OFFLINE and YOLO_OFFLINE (set by conftest) reach the hub clients the loaders go through."""
    from huggingface_hub import constants
    from ultralytics.utils import is_online

    from orion_core.detectors.yolo import resolve_weights
    from orion_core.errors import WeightsError

    assert constants.HF_HUB_OFFLINE and not is_online()
    with pytest.raises(WeightsError, match="downloads are off"):
        resolve_weights("yolo-not-cached-anywhere.pt")


def test_a_failed_final_rename_puts_the_previous_result_back(paths, capsys, monkeypatch):
    import orion_core.outputs

    first = finished_run(paths, capsys, "--max-frames", "4")
    real_replace = os.replace

    def replace(src, dst):
        if Path(src).name.startswith(f".{EPISODE}.partial-"):
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(orion_core.outputs.os, "replace", replace)
    monkeypatch.setattr(orion_core.outputs, "_exchange", lambda a, b: False)  # the two-rename fallback
    code, _, err = orion(run_args(paths), capsys)
    assert code == 2
    assert_one_error_line(err, f"cannot write {paths.out / EPISODE}", "Input/output error")
    run = json.loads((paths.out / EPISODE / "run.json").read_text())
    assert run["complete"] is True and run["counts"] == {k: v for k, v in first["counts"].items()}
    assert sorted(p.name for p in paths.out.iterdir()) == [EPISODE]


def test_embeddings_reach_the_disk_while_the_run_goes_on(tmp_path, long_input, capsys):
    out = tmp_path / "out"
    dim = 256
    seen: list[int] = []

    def spy(images):
        staged = [p for p in out.glob(f".{EPISODE}.partial-*/embeddings.f32")] if out.exists() else []
        seen.append(staged[0].stat().st_size if staged else 0)
        return np.ones((len(images), dim), np.float32)

    register_backend("fake-spy", make_backend(dim=dim, result=spy))
    try:
        code, _, err = orion(
            ["run", long_input.video, "--detections", long_input.det, "--backend", "fake-spy", "--out", out, "--episode", EPISODE,
             "--embed-policy", "all"],  # embed calls spread evenly over the video (on_demand front-loads them)
            capsys,
        )
    finally:
        unregister_backend("fake-spy")
    assert code == 0, err
    rows = np.load(out / EPISODE / "embeddings.npy", mmap_mode="r").shape[0]
    assert rows >= long_input.frames - 2
    assert seen == sorted(seen)  # only ever appended
    # halfway through, about half of the rows are already on disk (less what the write buffer holds)
    assert seen[len(seen) // 2] >= (rows // 2 - 64) * dim * 4
