"""Trust (issue 9, data loss): Orion replaces only its own episodes, never an input, and a run
killed at any point leaves something the next run recovers or tidies.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orion_core.episodes import MARKER, EpisodeLock, is_ours
from test_reliability import assert_one_error_line, det_line, orion, write_video

EPISODE = "ep"
FRAMES = 8


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip")
    video = write_video(root / "v.mp4", FRAMES)
    det = root / "det.txt"
    det.write_text("".join(det_line(i + 1, 10 + 3 * i, 10, 20, 30) for i in range(FRAMES)))
    return video, det


def run_args(video, det, out, *extra, episode: str | None = EPISODE) -> list:
    argv = ["run", video, "--detections", det, "--backend", "histogram", "--out", out]
    return argv + (["--episode", episode] if episode else []) + list(extra)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- D1: a folder that is not ours is never replaced ----------------------------------------------
def test_a_users_folder_at_the_episode_path_is_refused_and_kept(clip, tmp_path, capsys):
    out = tmp_path / "h"
    (out / EPISODE).mkdir(parents=True)
    (out / EPISODE / "thesis.tex").write_text("x")
    code, _, err = orion(run_args(*clip, out), capsys)
    assert code == 2
    assert_one_error_line(err, str(out / EPISODE), "Orion did not write", "--episode")
    assert (out / EPISODE / "thesis.tex").read_text() == "x"
    assert names(out) == [EPISODE] and names(out / EPISODE) == ["thesis.tex"]


def test_a_users_file_at_the_episode_path_is_refused_and_kept(clip, tmp_path, capsys):
    out = tmp_path / "h"
    out.mkdir()
    (out / EPISODE).write_text("notes")
    code, _, err = orion(run_args(*clip, out), capsys)
    assert code == 2
    assert_one_error_line(err, "is a file Orion did not write")
    assert (out / EPISODE).read_text() == "notes" and names(out) == [EPISODE]


def test_our_episode_carries_a_marker_and_a_rerun_replaces_it(clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "3"), capsys)[0] == 0
    assert (out / EPISODE / MARKER).is_file() and is_ours(out / EPISODE)
    assert orion(run_args(*clip, out), capsys)[0] == 0
    assert json.loads((out / EPISODE / "run.json").read_text())["counts"]["frames"] == FRAMES
    assert names(out) == [EPISODE]


def test_an_episode_from_before_the_marker_is_still_ours(clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "3"), capsys)[0] == 0
    (out / EPISODE / MARKER).unlink()  # as written by orion-core 0.2.0 before this change
    assert is_ours(out / EPISODE)
    assert orion(run_args(*clip, out), capsys)[0] == 0
    assert json.loads((out / EPISODE / "run.json").read_text())["counts"]["frames"] == FRAMES


def test_a_folder_with_a_foreign_run_json_is_not_ours(tmp_path):
    folder = tmp_path / "ep"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"complete": True, "versions": {"other-tool": "1"}}))
    assert not is_ours(folder)


# -- D2: inputs are never moved, replaced or deleted ---------------------------------------------
def test_a_video_at_the_episode_path_is_refused_and_kept(clip, tmp_path, capsys):
    video, det = clip
    folder = tmp_path / "c"
    folder.mkdir()
    cam = folder / "cam1"  # no extension: the episode (the stem) is the file itself
    cam.write_bytes(video.read_bytes())
    code, _, err = orion(run_args(cam, det, folder, episode=None), capsys)
    assert code == 2
    assert_one_error_line(err, "would replace the input", str(cam))
    assert cam.read_bytes() == video.read_bytes() and names(folder) == ["cam1"]


@pytest.mark.parametrize("which", ["video", "detections"])
def test_an_input_inside_an_old_episode_is_refused_and_kept(clip, tmp_path, capsys, which):
    video, det = clip
    out = tmp_path / "out"
    assert orion(run_args(video, det, out, "--max-frames", "2"), capsys)[0] == 0
    moved = out / EPISODE / (video.name if which == "video" else det.name)
    moved.write_bytes((video if which == "video" else det).read_bytes())
    args = run_args(moved, det, out) if which == "video" else run_args(video, moved, out)
    code, _, err = orion(args, capsys)
    assert code == 2
    assert_one_error_line(err, "would replace the input")
    assert moved.is_file()


def test_a_config_file_inside_the_episode_is_an_input_too(clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "2"), capsys)[0] == 0
    config = out / EPISODE / "my.yaml"
    config.write_text("perception:\n  embedding: {backend: histogram}\n")
    code, _, err = orion(run_args(*clip, out, "--config", config), capsys)
    assert code == 2 and "would replace the input" in err and config.is_file()


# -- D3: crash-safe swap, recovery and tidying ------------------------------------------------------
KILL_AT_SWAP = """
import os, signal, sys
import orion_core.outputs as outputs
outputs._exchange = lambda a, b: False   # the two-rename path, where a kill can fall between renames
real = os.replace
def replace(src, dst):
    real(src, dst)
    if ".old-" in os.fspath(dst):
        os.kill(os.getpid(), signal.SIGKILL)
outputs.os.replace = replace
from orion_core.cli import main
main(sys.argv[1:])
"""


def test_kill_between_the_two_renames_is_recovered_by_the_next_run(clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "3"), capsys)[0] == 0
    script = tmp_path / "kill.py"
    script.write_text(KILL_AT_SWAP)
    proc = subprocess.run([sys.executable, script, *map(str, run_args(*clip, out, "--max-frames", "5"))], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = names(out)
    assert EPISODE not in left  # the state the issue describes: no episode, two hidden folders
    assert any(".old-" in n for n in left) and any(".partial-" in n for n in left)

    # the next run restores the newest complete result before doing anything else ...
    code, _, err = orion(run_args(*clip, out, "--max-frames", "4"), capsys)
    assert code == 0, err
    assert names(out) == [EPISODE]
    assert json.loads((out / EPISODE / "run.json").read_text())["counts"]["frames"] == 4


def test_recovery_restores_the_newest_complete_result_when_the_rerun_fails(clip, tmp_path, capsys, monkeypatch):
    import orion_core.engine

    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "3"), capsys)[0] == 0
    newer = out / f".{EPISODE}.partial-deadbeef"
    os.rename(out / EPISODE, newer)  # as if killed after moving the old result away
    (out / f".{EPISODE}.old-cafe0000").mkdir()
    (out / f".{EPISODE}.old-cafe0000" / MARKER).write_text("{}")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(orion_core.outputs.EpisodeWriter, "observe", boom)
    code, _, err = orion(run_args(*clip, out), capsys)
    assert code == 130
    assert names(out) == [EPISODE]  # restored, tidied, and the interrupted rerun kept it
    assert json.loads((out / EPISODE / "run.json").read_text())["counts"]["frames"] == 3


def test_recovery_never_touches_hidden_folders_that_are_not_ours(clip, tmp_path, capsys):
    out = tmp_path / "out"
    lookalike = out / f".{EPISODE}.partial-mine"
    lookalike.mkdir(parents=True)
    (lookalike / "data.csv").write_text("1,2\n")
    assert orion(run_args(*clip, out), capsys)[0] == 0
    assert (lookalike / "data.csv").read_text() == "1,2\n"


SLOW = """
import sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from fakes import make_backend
from orion_core.plugins import register_backend
from orion_core.cli import main

def slow(images):
    time.sleep(0.05)
    return np.ones((len(images), 8), np.float32)

register_backend("slow", make_backend(result=slow))
main(sys.argv[1:])
"""


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    video = write_video(root / "long.mp4", 200)
    det = root / "long.txt"
    det.write_text("".join(det_line(i + 1, 5, 10, 20, 30) for i in range(200)))
    return video, det


def start_slow(tmp_path, long_clip, out) -> subprocess.Popen:
    script = tmp_path / "slow.py"
    script.write_text(SLOW.format(tests=str(Path(__file__).parent)))
    video, det = long_clip
    argv = ["run", video, "--detections", det, "--backend", "slow", "--batch-size", "1", "--out", out, "--episode", EPISODE]
    proc = subprocess.Popen([sys.executable, script, *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180  # start-up on a loaded machine; a bound, not a speed claim
    while time.monotonic() < deadline:
        if out.exists() and any(p.name.startswith(f".{EPISODE}.partial-") for p in out.iterdir()):
            time.sleep(0.3)
            return proc
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("run never started writing")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGQUIT, signal.SIGHUP], ids=["KILL", "QUIT", "HUP"])
def test_a_run_killed_mid_way_keeps_the_old_result_and_the_next_run_tidies(clip, long_clip, tmp_path, capsys, signum):
    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "3"), capsys)[0] == 0
    before = (out / EPISODE / "run.json").read_bytes()
    proc = start_slow(tmp_path, long_clip, out)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    assert (out / EPISODE / "run.json").read_bytes() == before
    if signum == signal.SIGKILL:  # nothing can run on SIGKILL: the staging folder stays behind
        assert any(".partial-" in n for n in names(out))
    else:  # SIGHUP / SIGQUIT stop like Ctrl-C
        assert proc.returncode == 130 and names(out) == [EPISODE], (proc.returncode, names(out), err)
    assert orion(run_args(*clip, out), capsys)[0] == 0
    assert names(out) == [EPISODE]


def test_a_second_run_on_the_same_episode_is_refused_while_the_first_writes(clip, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    lock = EpisodeLock(out / EPISODE)
    lock.acquire()
    try:
        code, _, err = orion(run_args(*clip, out), capsys)
    finally:
        lock.release()
    assert code == 2
    assert_one_error_line(err, "another orion run is writing", "--episode")
    assert names(out) == []  # and the lock file went with the first run
    assert orion(run_args(*clip, out), capsys)[0] == 0


def test_ctrl_c_while_the_old_result_is_removed_still_succeeds(clip, tmp_path, capsys, monkeypatch):
    import orion_core.outputs

    out = tmp_path / "out"
    assert orion(run_args(*clip, out, "--max-frames", "3"), capsys)[0] == 0
    real = orion_core.outputs.shutil.rmtree

    def interrupted_rmtree(path, *args, **kwargs):
        if ".trash-" in os.fspath(path):
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C right now
        return real(path, *args, **kwargs)

    monkeypatch.setattr(orion_core.outputs.shutil, "rmtree", interrupted_rmtree)
    code, stdout, err = orion(run_args(*clip, out), capsys)
    assert code == 0, err
    assert "Interrupted" not in err and "outputs:" in stdout
    assert json.loads((out / EPISODE / "run.json").read_text())["counts"]["frames"] == FRAMES
    assert names(out) == [EPISODE]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_both_swap_paths_leave_one_complete_episode(clip, tmp_path, capsys, monkeypatch, exchange):
    import orion_core.outputs

    if not exchange:
        monkeypatch.setattr(orion_core.outputs, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    for frames in ("2", "5"):
        assert orion(run_args(*clip, out, "--max-frames", frames), capsys)[0] == 0
    assert names(out) == [EPISODE]
    assert json.loads((out / EPISODE / "run.json").read_text())["counts"]["frames"] == 5
