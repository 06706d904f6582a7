"""Trust (issue 9): hostile or odd inputs are bounded and end in one `Error:` line, exit 2, nothing written.

Resource exhaustion (alias bombs, /dev/zero, FIFOs, huge fields, frames and frame numbers) and the
inputs that used to end in a traceback or a wrong "OK" (YAML, `weights verify`, episode names, SIGINT
at start-up). Runs the CLI in-process through the helpers of test_reliability.py; cases that hung on
the old code run in a subprocess with a timeout, so a regression fails instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_reliability import (
    BOX,
    EPISODE,
    FRAMES,
    SIZE,
    assert_nothing_written,
    assert_one_error_line,
    block_x,
    det_line,
    orion,
    run_args,
    save_tiny_dinov2,
    write_video,
)

MAX_QUOTE = 200  # an error line quoting user input stays short, whatever the input


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("trust")
    p = SimpleNamespace(root=root)
    p.video = write_video(root / "v.mp4", FRAMES)
    p.rows = [det_line(i + 1, block_x(i), 10, *BOX) for i in range(FRAMES)]
    p.det = root / "det.txt"
    p.det.write_text("".join(p.rows))
    p.dino = save_tiny_dinov2(root / "dinov2-tiny")
    return p


@pytest.fixture
def paths(base, tmp_path) -> SimpleNamespace:
    return SimpleNamespace(**vars(base), out=tmp_path / "out", tmp=tmp_path)


def fails(argv: list, capsys, *words: str, out: Path | None = None) -> str:
    code, stdout, err = orion(argv, capsys)
    assert code == 2, (stdout, err)
    line = assert_one_error_line(err, *words)
    assert len(line) < 600, line
    if out is not None:
        assert_nothing_written(out)
    return line


def in_subprocess(argv: list, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command in a fresh process; a hang (the old behaviour) fails the test after `timeout`."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "orion_core", *map(str, argv)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"orion {' '.join(map(str, argv))[:200]} did not finish within {timeout} s")


# -- YAML ---------------------------------------------------------------------------------------------
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)

YAMLS = {
    "billion-laughs": (BILLION_LAUGHS, ["aliases", "not supported"]),
    "laughs-in-options": (
        "perception:\n  embedding:\n    options:\n      a: &a [x, x, x, x, x, x, x, x]\n      b: &b [*a, *a, *a, *a, *a, *a, *a]\n"
        "      c: [*b, *b, *b, *b, *b, *b, *b, *b]\n",
        ["line 5", "aliases"],
    ),
    "self-reference": ("perception: &p\n  embedding:\n    options: {me: *p}\n", ["aliases"]),
    "deep-nesting": ("perception:\n  embedding:\n    options: {x: " + "[" * 5000 + "]" * 5000 + "}\n", ["nested deeper than"]),
    "deep-block-nesting": (
        "perception:\n  embedding:\n    options:\n" + "".join("  " * (i + 3) + f"k{i}:\n" for i in range(60)),
        ["nested deeper than"],
    ),
    "mixed-key-types": ("perception:\n  embedding:\n    options: {1: one, two: 2}\n", ["line 3", "key 1", "keys must be names"]),
    "list-key": ("perception:\n  embedding:\n    ? [a, b]\n    : 1\n", ["keys must be names"]),
    "duplicate-key": ("perception:\n  embedding:\n    batch_size: 4\n    batch_size: 8\n", ["line 4", "duplicate key 'batch_size'", "line 3"]),
    "duplicate-section": ("perception:\n  tracking: {max_age: 5}\n  tracking: {max_age: 9}\n", ["duplicate key 'tracking'"]),
    "section-is-a-number": ("perception:\n  embedding: 5\n", ["perception.embedding must be a mapping", "int"]),
    "section-is-zero": ("perception:\n  tracking: 0\n", ["perception.tracking must be a mapping"]),
    "section-is-a-list": ("perception:\n  memory: [1, 2]\n", ["perception.memory must be a mapping", "list"]),
    "perception-is-text": ("perception: fast\n", ["perception must be a mapping"]),
    "long-unknown-key": ("perception:\n  embedding:\n    " + "k" * 900 + ": 1\n", ["unknown key", "900 characters"]),
    "long-wrong-value": ("perception:\n  embedding:\n    batch_size: " + "9x" * 5000 + "\n", ["batch_size", "expected int"]),
}


@pytest.mark.parametrize("case", list(YAMLS))
def test_hostile_yaml_is_one_short_error_line(case, paths, capsys):
    text, words = YAMLS[case]
    config = paths.tmp / "config.yaml"
    config.write_text(text)
    line = fails(run_args(paths, "--config", config), capsys, *words, out=paths.out)
    assert len(line) < 400, line


def test_nul_in_a_detections_path_from_yaml(paths, capsys):
    config = paths.tmp / "config.yaml"
    config.write_text('perception:\n  detection: {detector: mot, detections: "det\\0.txt"}\n')
    fails(run_args(paths, "--config", config, det=False), capsys, "perception.detection.detections", "NUL", out=paths.out)


def test_nul_in_paths_given_to_the_python_api(paths):
    from orion_core import InputError, PerceptionConfig, PerceptionEngine
    from orion_core.detectors.mot import read_mot_detections

    with pytest.raises(InputError, match="contains a NUL character"):
        read_mot_detections("det\0.txt")
    engine = PerceptionEngine(PerceptionConfig.from_dict({"embedding": {"backend": "histogram"}, "detection": {"detector": "motion"}}))
    with pytest.raises(InputError, match=r"video file path 'v\\x00.mp4' contains a NUL character"):
        engine.process_video("v\0.mp4", episode=EPISODE, out_dir=paths.out)
    assert_nothing_written(paths.out)


def test_config_that_is_a_device_a_fifo_or_huge(paths, capsys):
    fails(run_args(paths, "--config", "/dev/zero"), capsys, "/dev/zero", "is a character device, not a regular file")
    fifo = paths.tmp / "config.yaml"
    os.mkfifo(fifo)
    fails(run_args(paths, "--config", fifo), capsys, "config.yaml", "named pipe (FIFO)")
    big = paths.tmp / "big.yaml"
    with open(big, "wb") as handle:  # sparse: costs no disk
        handle.truncate(50 * 2**20)
    fails(run_args(paths, "--config", big), capsys, "big.yaml", "50.0 MiB", "1 MiB")
    assert_nothing_written(paths.out)


def test_yaml_with_a_byte_order_mark_still_works(paths, capsys):
    config = paths.tmp / "bom.yaml"
    config.write_bytes(b"\xef\xbb\xbfperception:\n  video: {max_frames: 4}\n")
    code, _, err = orion(run_args(paths, "--config", config), capsys)
    assert code == 0, err
    assert json.loads((paths.out / EPISODE / "run.json").read_text())["counts"]["frames"] == 4


# -- detections and ground truth ------------------------------------------------------------------------
def test_detections_from_dev_zero_a_fifo_or_a_huge_file_stop_at_once(paths, capsys):
    fails(run_args(paths, det="/dev/zero"), capsys, "detections file /dev/zero", "character device", out=paths.out)
    fifo = paths.tmp / "det.txt"
    os.mkfifo(fifo)
    fails(run_args(paths, det=fifo), capsys, "named pipe (FIFO)", out=paths.out)
    huge = paths.tmp / "huge.txt"
    with open(huge, "wb") as handle:
        handle.truncate(300 * 2**20)
    fails(run_args(paths, det=huge), capsys, "huge.txt", "300.0 MiB", "256 MiB", out=paths.out)


def test_a_huge_field_is_not_quoted_whole(paths, capsys):
    long_line = paths.tmp / "long_line.txt"
    long_line.write_text(paths.rows[0] + "2,-1," + "9" * 100_000 + ",10,20,30,0.9\n")
    line = fails(run_args(paths, det=long_line), capsys, "long_line.txt line 2", "longer than 4,096 characters", out=paths.out)
    assert len(line) < 400
    long_field = paths.tmp / "long_field.txt"
    long_field.write_text(paths.rows[0] + "2,-1,10," + "x" * 3000 + ",20,30,0.9\n")
    line = fails(run_args(paths, det=long_field), capsys, "long_field.txt line 2 column 4", "3,000 characters", "is not a number")
    assert len(line) < 400


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_detections_with_a_byte_order_mark(paths, capsys, encoding):
    det = paths.tmp / f"det-{encoding}.txt"
    det.write_text("".join(paths.rows), encoding=encoding)
    code, _, err = orion(run_args(paths, det=det), capsys)
    assert code == 0, err
    assert json.loads((paths.out / EPISODE / "run.json").read_text())["counts"]["detections"] == FRAMES


def test_binary_detections_are_not_text(paths, capsys):
    binary = paths.tmp / "binary.txt"
    binary.write_bytes(b"1,-1,10,10,20,30,0.9\n\x00\x00\x00\x00\n")
    fails(run_args(paths, det=binary), capsys, "binary.txt line 2", "NUL", out=paths.out)


@pytest.mark.parametrize("frame", ["1e19", "10000000000", "9223372036854775808"])
def test_huge_frame_numbers_are_refused_not_cast(paths, capsys, frame):
    det = paths.tmp / "det.txt"
    det.write_text(paths.rows[0] + f"{frame},-1,10,10,20,30,0.9\n")
    fails(run_args(paths, det=det), capsys, "det.txt line 2", f"'{frame}'", "larger than 1,000,000,000", out=paths.out)
    gt = paths.tmp / "gt.txt"
    gt.write_text(f"1,1,10,10,20,30,1,-1,-1,-1\n{frame},1,10,10,20,30,1,-1,-1,-1\n")
    fails(["eval", "--gt", gt, "--pred", gt], capsys, "gt.txt, line 2", "larger than 1,000,000,000")


def test_eval_ground_truth_from_dev_zero_or_a_fifo(paths, capsys):
    fails(["eval", "--gt", "/dev/zero", "--pred", paths.det], capsys, "ground-truth file /dev/zero", "character device")
    fifo = paths.tmp / "pred.txt"
    os.mkfifo(fifo)
    fails(["eval", "--gt", paths.det, "--pred", fifo], capsys, "prediction file", "named pipe (FIFO)")


def test_eval_boxes_too_large_to_score(paths, capsys):
    gt = paths.tmp / "gt.txt"
    gt.write_text("1,1,10,10,1e200,1e200,1,-1,-1,-1\n2,1,10,10,20,20,1,-1,-1,-1\n")
    fails(["eval", "--gt", gt, "--pred", gt], capsys, "gt.txt, line 1", "box coordinates beyond 10,000,000 pixels")


# -- eval over huge frame spans ------------------------------------------------------------------------
def _eval_files(tmp: Path) -> tuple[Path, Path]:
    gt = tmp / "gt.txt"
    pred = tmp / "pred.txt"
    rows = [f"{f},{i},{10 + 40 * i + f},{20},30,60,1,-1,-1,-1\n" for f in range(1, 31) for i in (1, 2)]
    gt.write_text("".join(rows))
    pred.write_text("".join(row.replace(",1,-1,-1,-1", ",0.9,-1,-1,-1") for row in rows if not row.startswith("7,")))
    return gt, pred


def _eval_json(argv: list) -> dict:
    result = in_subprocess(["eval", *argv, "--json"])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_eval_with_a_prediction_at_frame_1e9_finishes_and_counts_it(paths):
    gt, pred = _eval_files(paths.tmp)
    plain = _eval_json(["--gt", gt, "--pred", pred])
    stray = paths.tmp / "stray.txt"
    stray.write_text(pred.read_text() + "1000000000,9,10,20,30,60,0.9,-1,-1,-1\n")
    far = _eval_json(["--gt", gt, "--pred", stray])
    assert far["FP"] == plain["FP"] + 1 and far["TP"] == plain["TP"] and far["IDSW"] == plain["IDSW"]
    assert far["frames"] == [1, 1_000_000_000] and far["num_frames"] == 1_000_000_000
    assert any("after frame 30" in w for w in far["warnings"])


def test_eval_over_a_billion_frames_equals_eval_over_the_annotated_ones(paths):
    gt, pred = _eval_files(paths.tmp)
    plain = _eval_json(["--gt", gt, "--pred", pred])
    wide = _eval_json(["--gt", gt, "--pred", pred, "--frames", "1-1000000000"])
    for key in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN", "TP", "Frag", "MT", "ML"):
        assert wide[key] == pytest.approx(plain[key]), key
    assert wide["num_frames"] == 1_000_000_000


def test_eval_frame_range_past_the_limit(paths, capsys):
    fails(["eval", "--gt", paths.det, "--pred", paths.det, "--frames", "1-99999999999"], capsys, "at most 1,000,000,000")


# -- videos ------------------------------------------------------------------------------------------------
def _jpeg(image: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return data.tobytes()


def test_fifo_or_device_video_is_not_called_empty(paths, capsys):
    fifo = paths.tmp / "clip.mp4"
    os.mkfifo(fifo)
    line = fails(run_args(paths, video=fifo), capsys, "clip.mp4", "named pipe (FIFO), not a regular file", out=paths.out)
    assert "empty" not in line
    fails(run_args(paths, video="/dev/zero"), capsys, "/dev/zero", "character device", out=paths.out)


def test_huge_frames_are_refused_with_the_megapixel_limit(paths, capsys):
    video = paths.tmp / "huge.mjpeg"
    video.write_bytes(_jpeg(np.zeros((8192, 8192), np.uint8)) * 2)  # 1.5 MB on disk, 201 MB per RGB frame
    fails(run_args(paths, video=video), capsys, "huge.mjpeg", "8192x8192", "67 megapixels", "at most 40", out=paths.out)


def test_frame_size_changing_mid_stream_with_save_video(paths, capsys):
    import av

    video = paths.tmp / "changes.mjpeg"
    first = np.full((*SIZE, 3), 60, np.uint8)
    second = np.full((SIZE[0] // 2, SIZE[1] // 2, 3), 120, np.uint8)
    video.write_bytes(_jpeg(first) * 5 + _jpeg(second) * 5)
    code, _, err = orion(run_args(paths, "--save-video", video=video), capsys)
    assert code == 0, err
    run = json.loads((paths.out / EPISODE / "run.json").read_text())
    assert run["complete"] is True and run["counts"]["frames"] == 10
    with av.open(str(paths.out / EPISODE / "annotated.mp4")) as container:
        sizes = {(f.height, f.width) for f in container.decode(video=0)}
    assert sizes == {SIZE}


# -- weights verify -----------------------------------------------------------------------------------------
def _copy(folder: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(folder, target)
    return target


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


def _raw_safetensors(path: Path, header: str, data: bytes = b"\0" * 4) -> None:
    encoded = header.encode()
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + data)


def verify_fails(capsys, folder: Path, *words: str) -> str:
    return fails(["weights", "verify", folder], capsys, *words)


def test_verify_a_fifo_named_model_safetensors(paths):
    for copy, name in (("fifo-weights", "model.safetensors"), ("fifo-config", "config.json")):
        folder = _copy(paths.dino, paths.tmp / copy)
        (folder / name).unlink()
        os.mkfifo(folder / name)
        result = in_subprocess(["weights", "verify", folder], timeout=60)
        assert result.returncode == 2
        assert_one_error_line(result.stderr, name, "named pipe (FIFO)")
    fifo = paths.tmp / "weights.pth"
    os.mkfifo(fifo)
    result = in_subprocess(["weights", "verify", fifo], timeout=60)
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "weights.pth", "named pipe (FIFO), not a checkpoint folder or file")


def test_run_with_a_fifo_config_json_in_the_weights_folder(paths, capsys):
    folder = _copy(paths.dino, paths.tmp / "fifo-config")
    (folder / "config.json").unlink()
    os.mkfifo(folder / "config.json")
    argv = run_args(paths, "--weights", folder, "--device", "cpu", backend="dinov2")
    fails(argv, capsys, "config.json", "named pipe (FIFO)", out=paths.out)


def test_verify_infinite_shape_and_scalar_patch_tensor(paths, capsys):
    folder = _copy(paths.dino, paths.tmp / "inf")
    _raw_safetensors(folder / "model.safetensors", '{"w": {"dtype": "F32", "shape": [Infinity], "data_offsets": [0, 4]}}')
    verify_fails(capsys, folder, "model.safetensors", "broken safetensors header")
    _raw_safetensors(folder / "model.safetensors", '{"w": ' + "[" * 100_000 + "]" * 100_000 + "}")
    verify_fails(capsys, folder, "model.safetensors", "broken safetensors header", "recursion limit")
    name = "embeddings.patch_embeddings.projection.weight"
    _raw_safetensors(folder / "model.safetensors", json.dumps({name: {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}))
    verify_fails(capsys, folder, name, "shape []", "not a patch-embedding kernel")


def test_verify_deep_json_and_odd_config_types(paths, capsys):
    folder = _copy(paths.dino, paths.tmp / "deep")
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    verify_fails(capsys, folder, "config.json", "nested too deeply")
    folder = _copy(paths.dino, paths.tmp / "model-type-list")
    _edit_config(folder, model_type=["dinov2"])
    verify_fails(capsys, folder, "model_type must be a string", "list")


def test_verify_weight_map_that_is_odd_or_points_outside(paths, capsys):
    folder = _copy(paths.dino, paths.tmp / "sharded")
    (folder / "model.safetensors").rename(folder / "model-00001-of-00001.safetensors")
    index = folder / "model.safetensors.index.json"
    for weight_map, words in (
        ({"a": 5, "b": "model-00001-of-00001.safetensors"}, ["weight_map names 5"]),
        ({"a": ["x"]}, ["weight_map names ['x']"]),
        ({"a": "../dinov2-tiny/model.safetensors"}, ["'../dinov2-tiny/model.safetensors'", "not a file name in"]),
        ({"a": "/etc/passwd"}, ["'/etc/passwd'", "not a file name in"]),
    ):
        index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        verify_fails(capsys, folder, "model.safetensors.index.json", *words)


@pytest.fixture(scope="module")
def dinov3(tmp_path_factory) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.DINOv3ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8,
        num_register_tokens=2,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("dinov3") / "dinov3-tiny"
    tf.DINOv3ViTModel(config).save_pretrained(folder)
    return folder


def test_verify_does_not_say_ok_for_a_wrong_intermediate_size_or_register_count(dinov3, tmp_path, capsys):
    code, _, err = orion(["weights", "verify", dinov3], capsys)
    assert code == 0, err
    folder = _copy(dinov3, tmp_path / "intermediate")
    _edit_config(folder, intermediate_size=128)
    verify_fails(capsys, folder, "layer.0.mlp", "128]", "64]", "different checkpoints", "intermediate_size")
    folder = _copy(dinov3, tmp_path / "registers")
    _edit_config(folder, num_register_tokens=4)
    verify_fails(capsys, folder, "register_tokens", "[1, 4, 32]", "[1, 2, 32]")


def test_verify_does_not_say_ok_for_a_missing_tensor(paths, capsys):
    from safetensors.torch import load_file, save_file

    folder = _copy(paths.dino, paths.tmp / "missing")
    state = load_file(folder / "model.safetensors")
    dropped = next(name for name in state if "encoder.layer.0.mlp.fc2.weight" in name)
    del state[dropped]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    verify_fails(capsys, folder, "lacks 1 tensor", dropped)


class _Code:
    """Pickles as a call of a builtin: torch's weights_only unpickler must refuse it (it never runs)."""

    def __reduce__(self):
        return (print, ("this would run on load",))


def test_verify_a_pickle_with_code_or_int_keys(tmp_path, capsys):
    import torch

    path = tmp_path / "model.pth"
    torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 4, 4), "extra": _Code()}, path)
    line = verify_fails(capsys, path, "model.pth", "contains Python objects", "refused for safety")
    assert "truncated" not in line
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(_Code()))
    verify_fails(capsys, raw, "contains Python objects", "refused for safety")
    torch.save({0: torch.zeros(2), 1: torch.zeros(2)}, tmp_path / "int-keys.pth")
    verify_fails(capsys, tmp_path / "int-keys.pth", "tensor name 0", "int", "not a name")


def test_verify_says_what_it_checked(paths, capsys):
    code, out, err = orion(["weights", "verify", paths.dino], capsys)
    assert code == 0, err
    assert "checked     layout, config.json, every tensor name and shape" in out


# -- names and messages ---------------------------------------------------------------------------------------
def test_episode_with_a_trailing_newline_is_refused(paths, capsys):
    argv = run_args(paths)
    argv[argv.index("--episode") + 1] = "ep\n"
    fails(argv, capsys, "episode name 'ep\\n' is not allowed", out=paths.out)
    assert not any(paths.tmp.rglob("ep\n"))


def test_video_name_with_a_space_hints_episode(paths, capsys):
    video = paths.tmp / "my clip.mp4"
    video.write_bytes(paths.video.read_bytes())
    argv = [a for a in run_args(paths, video=video)]
    at = argv.index("--episode")
    del argv[at : at + 2]
    fails(argv, capsys, "'my clip'", "not allowed", "--episode NAME", out=paths.out)
    argv += ["--episode", "my_clip"]
    code, _, err = orion(argv, capsys)
    assert code == 0, err


WARNING_RUN = """
import sys
import numpy as np
sys.path.insert(0, {tests!r})
from fakes import make_backend
from orion_core.plugins import register_backend
from orion_core.cli import main

def noisy(images):
    np.float32(3e38) * np.float32(10)  # overflow: a RuntimeWarning, as numeric plugin code may raise
    np.array([0.0]) / np.array([0.0])
    return np.ones((len(images), 8), np.float32)

register_backend("noisy", make_backend(result=noisy))
main(sys.argv[1:])
"""


def test_numpy_runtime_warnings_do_not_reach_stderr(paths):
    script = paths.tmp / "noisy_run.py"
    script.write_text(WARNING_RUN.format(tests=str(Path(__file__).parent)))
    argv = run_args(paths, backend="noisy")
    result = subprocess.run([sys.executable, script, *map(str, argv)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "RuntimeWarning" not in result.stderr and result.stderr.strip() == "", result.stderr


SLOW_IMPORT = """
import sys, time
from importlib.abc import MetaPathFinder

class SlowClick(MetaPathFinder):  # start-up made long enough to interrupt: importing click takes 30 s
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            print("importing", flush=True)
            time.sleep(30)
        return None

sys.meta_path.insert(0, SlowClick())
sys.argv = ["orion", *sys.argv[1:]]
import runpy
runpy.run_module("orion_core", run_name="__main__")
"""


def test_sigint_during_start_up_is_a_clean_exit_130(paths):
    script = paths.tmp / "slow_start.py"
    script.write_text(SLOW_IMPORT)
    proc = subprocess.Popen(
        [sys.executable, str(script), *map(str, run_args(paths))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "importing"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines() == ["Interrupted."], err
    assert_nothing_written(paths.out)


def test_quote_cuts_user_input():
    from orion_core.errors import clip, quote

    assert quote("abc") == "'abc'"
    long = quote("x" * 10_000)
    assert long.startswith("'" + "x" * 80 + "'") and "10,000 characters" in long and len(long) < 120
    assert clip("12") == "12" and clip("a\nb") == "'a\\nb'"
