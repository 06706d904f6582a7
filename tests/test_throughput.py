"""Issue 12: embed on demand, overlapped stages, thread policy, progress. No timing assertions."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from orion_core.bench import run_orion, score_reentries
from orion_core.config import TrackingConfig, build_config
from orion_core.engine import PerceptionEngine
from orion_core.errors import ConfigError
from orion_core.evaluate import read_mot_file
from orion_core.stages import Consumer, Prefetch, default_threads
from orion_core.tracking import Tracker
from orion_core.tracking.ondemand import EmbedPlanner
from orion_core.types import Detections

from test_reliability import EPISODE, assert_nothing_written, long_input, orion, slow_command, wait_for_staging  # noqa: F401

ON_DEMAND = {"embedding": {"policy": "on_demand"}}
ALL = {"embedding": {"policy": "all"}}


# -- embed on demand --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from orion_core.synthetic import make_scene

    return make_scene(tmp_path_factory.mktemp("scene") / "s", seed=0, frames=150, size=(480, 360))


def test_on_demand_embeds_fewer_boxes_and_keeps_the_ids(scene, tmp_path):
    assert scene.reentries and scene.crossings  # the scene has both hard cases
    gt = read_mot_file(scene.gt_path, "gt")
    runs = {}
    for name, overrides in {"all": ALL, "on_demand": ON_DEMAND}.items():
        run = run_orion(scene.video_path, scene.det_path, tmp_path, name, backend="histogram", overrides=overrides)
        runs[name] = (run, json.loads((run.tracks.parent / "run.json").read_text()))
    all_counts, od_counts = runs["all"][1]["counts"], runs["on_demand"][1]["counts"]
    assert all_counts["embedded_fraction"] == pytest.approx(all_counts["embedded"] / all_counts["detections"], abs=1e-4)
    assert all_counts["embedded_fraction"] > 0.99
    assert od_counts["detections"] == all_counts["detections"]
    assert od_counts["embedded"] < 0.75 * all_counts["embedded"]  # measured ~0.4 on this scene
    assert od_counts["embedded_fraction"] == pytest.approx(od_counts["embedded"] / od_counts["detections"], abs=1e-4)
    plan = runs["on_demand"][1]["embedding_plan"]
    assert plan["boxes"] == od_counts["detections"] and plan["embedded"] == od_counts["embedded"]
    assert runs["on_demand"][1]["config"]["embedding"]["policy"] == "on_demand"
    for name, (run, _) in runs.items():
        outcomes = score_reentries(gt, read_mot_file(run.tracks, "pred"), scene.reentries)
        assert outcomes and all(o.kept for o in outcomes), (name, outcomes)


def _dets(*boxes, score=0.9):
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(boxes, np.full(len(boxes), score, np.float32), ["person"] * len(boxes))


def _unit(seed: int, n: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_planner_skips_only_sure_isolated_matches_and_refreshes():
    config = TrackingConfig(min_hits=1)
    tracker = Tracker(config)
    planner = EmbedPlanner(config, refresh_frames=3, young_frames=0)
    a, b = [10, 10, 50, 110], [300, 10, 340, 110]
    decisions = []
    for frame in range(8):
        dets = _dets(a, b)
        want = planner.select(frame, tracker.association_view(frame), dets)
        decisions.append(want.tolist())
        rows = np.where(want[:, None], _unit(0, 2), 0.0)
        objects = tracker.update(frame, dets, rows, want)
        planner.observe(frame, objects, want)
    # frame 0: new tracks (confirmed at once, min_hits 1); then sure matches, re-embedded every 3 frames
    assert [d[0] for d in decisions] == [True, False, False, True, False, False, True, False]
    assert all(d[0] == d[1] for d in decisions)
    # a second box overlapping one of them makes that neighbourhood ambiguous: both get embedded
    crowd = _dets(a, b, [14, 12, 56, 112])
    want = planner.select(8, tracker.association_view(8), crowd)
    assert want.tolist() == [True, False, True]
    # low scores are never embedded (the tracker never reads their embedding)
    low = _dets(a, score=0.3)
    assert not planner.select(8, tracker.association_view(8), low).any()


def test_association_view_is_read_only():
    tracker = Tracker(TrackingConfig(min_hits=1))
    tracker.update(0, _dets([10, 10, 50, 110]))
    tracker.update(1, _dets([14, 10, 54, 110]))
    before = tracker.association_view(2)
    again = tracker.association_view(2)
    np.testing.assert_allclose(before.boxes, again.boxes)
    now = tracker.association_view(1)  # no time ahead: the state after frame 1's update
    assert before.boxes[0, 0] > now.boxes[0, 0] > 10  # predicted ahead along the motion
    assert before.previous_frame == 1 and before.confirmed.tolist() == [True] and before.track_ids.tolist() == [1]


def test_policy_and_threads_are_validated():
    with pytest.raises(ConfigError, match="embedding.policy"):
        build_config(overrides={"embedding": {"backend": "histogram", "policy": "some"}})
    with pytest.raises(ConfigError, match="embedding.refresh_frames"):
        build_config(overrides={"embedding": {"backend": "histogram", "refresh_frames": 0}})
    with pytest.raises(ConfigError, match="embedding.threads"):
        build_config(overrides={"embedding": {"backend": "histogram", "threads": 0}})


# -- threads -----------------------------------------------------------------------------------------
def test_default_threads_leave_a_core_for_the_other_stages():
    assert [default_threads(n) for n in (1, 2, 3, 4, 16, 64)] == [1, 1, 2, 3, 8, 8]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from test_reliability import BOX, det_line, write_video

    root = tmp_path_factory.mktemp("clip")
    frames = 60
    video = write_video(root / "clip.mp4", frames, fps=10.0)
    det = root / "det.txt"
    det.write_text("".join(det_line(i + 1, 5 + 2 * i, 10, *BOX) for i in range(frames)))
    return video, det, frames


def test_threads_option_sets_torch_and_is_recorded(clip, tmp_path, capsys):
    import torch

    video, det, _ = clip
    previous = torch.get_num_threads()
    try:
        code, _, err = orion(["run", video, "--detections", det, "--backend", "histogram", "--out", tmp_path, "--threads", "1", "-q"], capsys)
        assert code == 0, err
        run = json.loads((tmp_path / "clip" / "run.json").read_text())
        assert run["config"]["embedding"]["threads"] == 1 and torch.get_num_threads() == 1
        code, _, err = orion(["run", video, "--detections", det, "--backend", "histogram", "--out", tmp_path, "--threads", "0"], capsys)
        assert code == 2 and err.startswith("Error: ") and "--threads" in err and len(err.strip().splitlines()) == 1
    finally:
        torch.set_num_threads(previous)


# -- progress ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "total"), [({"video": {"max_frames": 25}}, 25), ({"video": {"fps": 5.0}}, 30), ({}, 60)])
def test_progress_total_honours_max_frames_and_fps(clip, tmp_path, extra, total):
    video, det, _ = clip
    config = build_config(overrides={
        **extra,
        "detection": {"detector": "mot", "detections": str(det)},
        "embedding": {"backend": "histogram"},
        "output": {"out_dir": str(tmp_path)},
    })
    states = []
    result = PerceptionEngine(config, read_ahead=4).process_video(video, progress=states.append)
    assert {s["total"] for s in states} == {total}
    assert states[-1]["frames"] == result.counts["frames"] == total


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_without_a_terminal_is_a_plain_line_every_few_seconds():
    from orion_core.cli.progress import RunProgress

    stream, clock = io.StringIO(), FakeClock()
    progress = RunProgress(stream, tty=False, interval_s=5.0, clock=clock)
    for frames in range(0, 101, 10):
        progress({"frames": frames, "total": 100, "tracks": 3, "entities": 2, "embedded": frames, "detections": 2 * frames})
        clock.now += 1.0  # 10 frames a second
    progress.done()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "\r" not in stream.getvalue()  # at 5 s and 10 s
    assert lines[0].startswith("progress: frames 50/100 (50%), 10.0 frames/s, ETA 00:05")
    assert "tracks 3" in lines[0] and "entities 2" in lines[0] and "embedded 50%" in lines[0]
    quiet = io.StringIO()
    silent = RunProgress(quiet, quiet=True, tty=False, interval_s=0.0, clock=clock)
    silent({"frames": 5, "total": 10})
    assert quiet.getvalue() == ""


def test_progress_on_a_terminal_is_a_tqdm_bar_with_rate_and_total():
    from orion_core.cli.progress import RunProgress

    stream = io.StringIO()
    progress = RunProgress(stream, tty=True)
    for frames in (10, 20, 30):
        progress({"frames": frames, "total": 30, "tracks": 1, "entities": 1})
    progress.done()
    text = stream.getvalue()
    assert "30/30" in text and "frame/s" in text and "100%" in text


def test_cli_run_logs_progress_lines_when_stderr_is_not_a_terminal(clip, tmp_path, capsys, monkeypatch):
    from orion_core.cli import progress

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    video, det, _ = clip
    code, out, err = orion(["run", video, "--detections", det, "--backend", "histogram", "--out", tmp_path, "--max-frames", "40"], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("progress: ")]
    assert lines and all("/40 (" in line for line in lines) and "\r" not in err
    code, out, err = orion(["run", video, "--detections", det, "--backend", "histogram", "--out", tmp_path, "-q"], capsys)
    assert code == 0 and "progress" not in err


def test_bench_embed_shows_progress(capsys, monkeypatch):
    from orion_core.cli import progress

    monkeypatch.setattr(progress, "LOG_INTERVAL_S", 0.0)
    code, out, err = orion(["bench", "embed", "--backend", "histogram", "--items", "8", "--frame-size", "96x64",
                            "--repeats", "1", "--warmup", "1"], capsys)
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("progress: passes ")]
    # defaults: an encode row and a crop row (k = 8), each 2 passes (Orion, raw) x (1 warm-up + 1 timed)
    assert lines and lines[-1].startswith("progress: passes 8/8 (100%)"), err
    assert "encode" in out and "crop" in out


# -- overlapped stages ---------------------------------------------------------------------------------
def test_prefetch_is_bounded_and_stops_within_a_poll():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    stage = Prefetch(endless, depth=3, name="test-prefetch")
    assert [next(stage) for _ in range(5)] == [0, 1, 2, 3, 4]
    time.sleep(0.3)
    assert len(produced) <= 5 + 3 + 1  # depth items ahead, plus one in hand
    started = time.monotonic()
    stage.close()
    assert not stage.alive and time.monotonic() - started < 1.5


def test_prefetch_and_consumer_hand_errors_to_the_main_thread():
    def failing():
        yield 1
        raise ValueError("decoder broke")

    stage = Prefetch(failing, depth=2, name="test-fail")
    assert next(stage) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(stage)

    handled = []

    def handle(item):
        if item == 3:
            raise OSError("disk full")
        handled.append(item)

    consumer = Consumer(handle, depth=2, name="test-consumer")
    with pytest.raises(OSError, match="disk full"):
        for item in range(50):
            consumer.submit(item)
        consumer.close()
    assert handled == [0, 1, 2]
    assert threading.active_count() < 50


def test_save_video_goes_through_the_writer_thread(clip, tmp_path):
    import av

    video, det, frames = clip
    config = build_config(overrides={
        "detection": {"detector": "mot", "detections": str(det)},
        "embedding": {"backend": "histogram"},
        "output": {"out_dir": str(tmp_path), "save_video": True},
    })
    result = PerceptionEngine(config).process_video(video)
    with av.open(str(result.path / "annotated.mp4")) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(stream)) == frames
        assert stream.codec_context.name == "h264"
    timings = json.loads((result.path / "run.json").read_text())["timings_s"]
    assert {"decode", "detect", "embed", "track", "write", "idle", "wall"} <= set(timings)


@pytest.mark.parametrize("extra", [("--save-video",), ("--embed-policy", "all")], ids=["writer-thread", "embed-thread"])
def test_interrupt_stops_the_background_stages(tmp_path, long_input, extra):  # noqa: F811
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(slow_command(tmp_path, long_input, out, 0.02, *extra), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    wait_for_staging(out, proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "Interrupted.", err
    assert_nothing_written(out)
    assert Path(out).exists() is False or list(Path(out).iterdir()) == []


def test_verbose_run_logs_settings_and_stage_times(clip, tmp_path, capsys, caplog):
    import logging

    caplog.set_level(logging.INFO)
    video, det, _ = clip
    code, _, err = orion(["run", video, "--detections", det, "--backend", "histogram", "--out", tmp_path, "-v", "-q",
                          "--embed-policy", "on_demand"], capsys)
    assert code == 0, err
    line = next(r.getMessage() for r in caplog.records if "embedding policy" in r.getMessage())
    assert "on_demand" in line and "boxes embedded" in line and "decode" in line and "idle" in line


def test_default_policy_is_the_backends_suggestion(clip, tmp_path, capsys):
    video, det, _ = clip
    code, _, err = orion(["run", video, "--detections", det, "--backend", "histogram", "--out", tmp_path, "-q"], capsys)
    assert code == 0, err
    run = json.loads((tmp_path / "clip" / "run.json").read_text())
    assert run["config"]["embedding"]["policy"] == "all"  # histogram: embedding costs less than planning
    assert "embedding_plan" not in run and run["counts"]["embedded"] + run["counts"]["not_embedded"] == run["counts"]["detections"]


@pytest.mark.parametrize(("margin", "skipped"), [(0.4, True), (1.0, False)])
def test_planner_lets_motion_decide_a_close_pair_only_with_a_clear_margin(margin, skipped):
    config = TrackingConfig(min_hits=1)
    tracker = Tracker(config)
    planner = EmbedPlanner(config, refresh_frames=10, young_frames=0, margin=margin)
    a, b = [10, 10, 50, 110], [34, 10, 74, 110]  # side by side, IoU 0.25: each box is a rival of the other track
    decisions = []
    for frame in range(4):
        dets = _dets(a, b)
        want = planner.select(frame, tracker.association_view(frame), dets)
        decisions.append(want.tolist())
        objects = tracker.update(frame, dets, np.where(want[:, None], _unit(1, 2), 0.0), want)
        planner.observe(frame, objects, want)
        assert sorted(o.track_id for o in objects) == [1, 2] and {o.det_index: o.track_id for o in objects} == {0: 1, 1: 2}
    assert decisions[0] == [True, True]
    assert decisions[2] == [not skipped, not skipped]
    reasons = {k: v for k, v in planner.counts.items() if k.startswith("embedded_")}
    assert sum(reasons.values()) == planner.counts["embedded"]
