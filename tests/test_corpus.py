"""`orion run` on many videos with the local executor: inputs, isolation, corpus.json, resume."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from corpus_data import AVAILABLE, CLIPS, REASON, build_corpus, histogram_config, tree_bytes
from orion_core.cli import main
from orion_core.corpus import expand_paths, plan_jobs
from orion_core.engine import PerceptionEngine
from orion_core.errors import ConfigError, InputError, OrionError

needs_data = pytest.mark.skipif(not AVAILABLE, reason=REASON)
GOOD = sorted(CLIPS)
BAD = {"broken", "nodets"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if not AVAILABLE:
        pytest.skip(REASON)
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """Each clip run alone through `process_video`, as a single `orion run` does."""
    out = tmp_path_factory.mktemp("single")
    for stem, clip in corpus.clips.items():
        det = corpus.detections / stem / "det" / "det.txt" if stem == "cam_b" else corpus.detections / f"{stem}.txt"
        PerceptionEngine(histogram_config(det, out)).process_video(clip)
    return tree_bytes(out)


def run(corpus, out, **kwargs):
    engine = PerceptionEngine(histogram_config(corpus.detections, out))
    return engine.process_videos([corpus.videos], **kwargs)


def statuses(results):
    return {r.episode: r.status for r in results}


# -- inputs ---------------------------------------------------------------------------------------
def test_inputs_folders_lists_and_duplicates(tmp_path):
    for name in ("b.mp4", "a.MKV", "notes.txt.bak", ".hidden.mp4", "sub/c.avi"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in expand_paths([str(tmp_path)])] == ["a.MKV", "b.mp4"]  # sorted, not recursive
    assert [p.name for p in expand_paths([str(tmp_path)], recursive=True)] == ["a.MKV", "b.mp4", "c.avi"]
    listing = tmp_path / "list.txt"
    listing.write_text("# cameras\nsub/c.avi\n\n  b.mp4  \n" + str(tmp_path / "b.mp4") + "\n")
    assert expand_paths([str(listing)]) == [tmp_path / "sub/c.avi", tmp_path / "b.mp4"]  # relative to the list, once
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "b.avi").write_bytes(b"x")
    with pytest.raises(ConfigError, match="two videos would write the same episode 'b'"):
        plan_jobs(expand_paths([str(tmp_path / "b.mp4"), str(tmp_path / "other")]))
    with pytest.raises(InputError, match="does not exist"):
        expand_paths([str(tmp_path / "nope.mp4")])
    with pytest.raises(InputError, match="holds no videos.*--recursive"):
        expand_paths([str(_empty(tmp_path))])
    with pytest.raises(ConfigError, match="is one file, but there are 2 videos"):
        plan_jobs(expand_paths([str(tmp_path)]), detections=str(listing))


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.md").write_text("no videos")
    return folder


def test_duplicate_stem_fails_before_anything_runs(tmp_path, capsys):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "cam.mp4").write_bytes(b"x")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path / "x"), str(tmp_path / "y"), "--backend", "histogram", "--out", str(out), "--detector", "motion"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: two videos would write the same episode 'cam'")
    assert not out.exists()


def test_ray_executor_without_ray_is_one_line(tmp_path, capsys, monkeypatch):
    import orion_core.corpus

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    monkeypatch.delitem(sys.modules, "orion_core.corpus.ray_executor", raising=False)  # imported by test_corpus_ray
    monkeypatch.delattr(orion_core.corpus, "ray_executor", raising=False)
    (tmp_path / "a.mp4").write_bytes(b"x")
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path / "a.mp4"), "--executor", "ray", "--backend", "histogram", "--detector", "motion"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Error: --executor ray needs Ray, which is not installed: pip install 'orion-core[ray]'"]


def test_bad_workers_value(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(tmp_path), "--workers", "lots", "--backend", "histogram", "--detector", "motion"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("Error: --workers must be a positive integer or 'auto', got 'lots'")


# -- runs -----------------------------------------------------------------------------------------
@needs_data
def test_one_worker_isolates_failures_and_writes_corpus_json(corpus, reference, tmp_path):
    out = tmp_path / "out"
    results = run(corpus, out, workers=1)
    assert [r.episode for r in results] == ["broken", "cam_a", "cam_b", "cam_c", "nodets"]  # input order
    assert statuses(results) == {**{s: "complete" for s in GOOD}, **{s: "failed" for s in BAD}}
    errors = {r.episode: r.error for r in results if r.error}
    assert "broken.mp4" in errors["broken"] and "FFmpeg" in errors["broken"]
    assert errors["nodets"].startswith("no detections for this video in") and "nodets.txt or nodets/det/det.txt" in errors["nodets"]
    assert tree_bytes(out) == reference  # byte-identical to one `orion run` per video
    record = json.loads((out / "corpus.json").read_text())
    assert record["complete"] is False and record["executor"] == "local" and record["workers"] == 1
    assert record["totals"] == {"videos": 5, "complete": 3, "skipped": 0, "failed": 2, "pending": 0, "frames": sum(n for _, n in CLIPS.values())}
    rows = {row["episode"]: row for row in record["videos"]}
    for stem, (_, frames) in CLIPS.items():
        assert rows[stem]["status"] == "complete" and rows[stem]["counts"]["frames"] == frames and rows[stem]["seconds"] > 0
        assert rows[stem]["error"] is None
    assert rows["broken"]["error"] == errors["broken"]
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".corpus.json.tmp"]
    assert {p.name for p in out.iterdir()} == set(GOOD) | {"corpus.json"}


@needs_data
def test_two_workers_same_outputs_and_second_run_skips(corpus, reference, tmp_path):
    out = tmp_path / "out"
    results = run(corpus, out, workers=2)
    assert statuses(results) == {**{s: "complete" for s in GOOD}, **{s: "failed" for s in BAD}}
    assert tree_bytes(out) == reference
    assert json.loads((out / "corpus.json").read_text())["workers"] == 2
    workers = {r.worker for r in results if r.status == "complete"}
    assert all(w.split(":")[1] != str(os.getpid()) for w in workers)  # processed in worker processes

    mtimes = {s: (out / s / "run.json").stat().st_mtime_ns for s in GOOD}
    again = run(corpus, out, workers=2)
    assert statuses(again) == {**{s: "skipped" for s in GOOD}, **{s: "failed" for s in BAD}}
    assert {s: (out / s / "run.json").stat().st_mtime_ns for s in GOOD} == mtimes
    skipped = {r.episode: r for r in again if r.status == "skipped"}
    assert skipped["cam_a"].counts["frames"] == CLIPS["cam_a"][1]  # counts come from the previous run.json

    forced = run(corpus, out, workers=1, force=True)
    assert statuses(forced)["cam_a"] == "complete" and tree_bytes(out) == reference


@needs_data
def test_changed_video_or_config_is_redone(corpus, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(corpus.videos, videos)
    out = tmp_path / "out"
    engine = PerceptionEngine(histogram_config(corpus.detections, out))
    engine.process_videos([videos / "cam_a.mp4", videos / "cam_c.mp4"])
    os.utime(videos / "cam_c.mp4", ns=(1, 1))  # "edited": another mtime
    assert statuses(engine.process_videos([videos / "cam_a.mp4", videos / "cam_c.mp4"])) == {"cam_a": "skipped", "cam_c": "complete"}
    run_json = json.loads((out / "cam_c" / "run.json").read_text())
    assert run_json["fingerprint"]["video"]["mtime_ns"] == 1 and run_json["fingerprint"]["detections"]["path"].endswith("cam_c.txt")
    other = histogram_config(corpus.detections, out)
    other.memory.reid_threshold = 0.9
    assert statuses(PerceptionEngine(other).process_videos([videos / "cam_a.mp4"])) == {"cam_a": "complete"}


@needs_data
@pytest.mark.parametrize("workers", [1, 2])
def test_interrupted_run_resumes(corpus, reference, tmp_path, workers):
    out = tmp_path / "out"
    seen = []

    def interrupt_after_first(state):
        if state["event"] == "done" and state["result"].status == "complete":
            seen.append(state["episode"])
            raise KeyboardInterrupt

    engine = PerceptionEngine(histogram_config(corpus.detections, out))
    with pytest.raises(KeyboardInterrupt):
        engine.process_videos([corpus.videos], workers=workers, progress=interrupt_after_first)
    record = json.loads((out / "corpus.json").read_text())
    assert record["complete"] is False and record["totals"]["pending"] >= 1
    assert [p.name for p in out.iterdir() if ".partial-" in p.name] == []  # interrupted workers cleaned up
    done = {p.name for p in out.iterdir() if p.is_dir()}
    assert seen[0] in done
    for name in done:  # whatever is there is whole
        assert json.loads((out / name / "run.json").read_text())["complete"] is True

    results = engine.process_videos([corpus.videos])
    assert statuses(results)[seen[0]] == "skipped"
    assert {r.episode for r in results if r.status == "complete"} == set(GOOD) - done
    assert tree_bytes(out) == reference


@needs_data
def test_dead_worker_loses_only_its_video(corpus, reference, tmp_path):
    """A worker killed mid-video (as the OOM killer would): that video fails, a new worker does the rest."""
    out = tmp_path / "out"
    killed = {}

    def kill_first_running(state):
        if state["event"] == "start" and not killed:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
                killed[child.pid] = True

    results = run(corpus, out, workers=2, progress=kill_first_running)
    by_name = {r.episode: r for r in results}
    dead = [r for r in results if r.error and "worker process died (SIGKILL)" in r.error]
    assert 1 <= len(dead) <= 2 and all(r.status == "failed" for r in dead)
    assert {r.episode for r in results if r.status == "complete"} == set(GOOD) - {r.episode for r in dead}
    assert by_name["broken"].status == "failed"
    again = run(corpus, out, workers=1)
    assert {r.episode for r in again if r.status == "complete"} == {r.episode for r in dead} - BAD
    assert tree_bytes(out) == reference


# -- the command ----------------------------------------------------------------------------------
@needs_data
def test_cli_corpus_summary_errors_and_exit_code(corpus, reference, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["run", str(corpus.videos), "--backend", "histogram", "--detections", str(corpus.detections), "--out", str(out)]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2
    assert errors[0] == f"Error: {corpus.videos / 'broken.mp4'}: is not a video FFmpeg can read (Invalid data found when processing input); pass a video file (mp4, avi, mkv, ...)"
    assert errors[1].startswith(f"Error: {corpus.videos / 'nodets.mp4'}: no detections for this video in ")
    progress = [line for line in captured.err.splitlines() if line.startswith("[")]
    assert len(progress) == 4  # nodets failed before any worker ran: no progress line, one Error line
    assert progress[-1].startswith("[5/5]") and "frames/s" in progress[-1] and "ETA" in progress[-1]
    assert "corpus: 5 videos: 3 complete, 0 skipped (already complete), 2 failed" in captured.out
    assert tree_bytes(out) == reference

    # only good videos, all complete already: exit 0, everything skipped
    main(["run", *(str(c) for c in corpus.clips.values()), *args[2:]])
    assert "3 videos: 0 complete, 3 skipped" in capsys.readouterr().out


@needs_data
def test_one_video_keeps_todays_behaviour(corpus, reference, tmp_path, capsys):
    out = tmp_path / "out"
    main(["run", str(corpus.clips["cam_a"]), "--backend", "histogram", "--detections", str(corpus.detections / "cam_a.txt"), "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("cam_a: 30 frames, ") and lines[1] == f"outputs: {out / 'cam_a'}"
    assert {p.name for p in out.iterdir()} == {"cam_a"}  # no corpus.json
    assert (out / "cam_a" / "tracks.txt").read_bytes() == reference["cam_a/tracks.txt"]


@needs_data
def test_mot_corpus_needs_a_detections_folder(corpus, tmp_path):
    config = histogram_config(corpus.detections, tmp_path)
    config.detection.detections = None
    with pytest.raises(OrionError, match="detector 'mot' needs detections: pass --detections FOLDER"):
        PerceptionEngine(config).process_videos([corpus.videos])


# -- workers load models once ---------------------------------------------------------------------
def test_engine_keeps_one_yolo_detector_but_fresh_stateful_ones():
    from orion_core.config import build_config

    yolo = PerceptionEngine(build_config(preset="histogram", overrides={"detection": {"detector": "yolo", "model": "yolov8n.yaml", "device": "cpu"}}))
    first = yolo.detector()
    assert yolo.detector() is first  # weights load once per engine (a corpus worker's whole life)
    yolo.config.detection.confidence = 0.5
    assert yolo.detector() is not first  # another detection config: another detector
    motion = PerceptionEngine(build_config(preset="histogram", overrides={"detection": {"detector": "motion"}}))
    assert motion.detector() is not motion.detector()  # a learned background belongs to one video


def test_workers_auto_fits_the_machine():
    from orion_core.config import build_config
    from orion_core.corpus.local import machine_cores
    from orion_core.corpus.runner import auto_workers, parse_workers

    config = build_config(preset="histogram", overrides={"embedding": {"device": "cpu"}})
    assert 1 <= auto_workers(config, videos=100) <= machine_cores()
    assert auto_workers(config, videos=1) == 1
    assert parse_workers("auto") == "auto" and parse_workers("3") == 3 and parse_workers(None) == 1
    with pytest.raises(ConfigError, match="positive integer or 'auto', got 0"):
        parse_workers(0)


@needs_data
def test_a_single_run_counts_as_done_for_the_corpus(corpus, tmp_path, monkeypatch):
    """`orion run cam_a.mp4 --detections dets/cam_a.txt` (relative paths) then the folder: cam_a is skipped."""
    out = tmp_path / "out"
    monkeypatch.chdir(corpus.videos.parent)
    main(["run", "videos/cam_a.mp4", "--preset", "histogram", "--detections", "dets/cam_a.txt", "--out", str(out)])
    engine = PerceptionEngine(histogram_config(corpus.detections, out))
    results = engine.process_videos([corpus.clips["cam_a"], corpus.clips["cam_c"]])
    assert statuses(results) == {"cam_a": "skipped", "cam_c": "complete"}
