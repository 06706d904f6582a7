"""The Ray executor on a local Ray instance (num_cpus=2): same outputs as local, and a killed worker is retried.

One Ray instance serves the module (starting one costs ~10 s). CI installs the `ray` extra (README
install line); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'orion-core[ray]' (CI installs it)")

from corpus_data import AVAILABLE, CLIPS, REASON, SLOW, build_corpus, histogram_config, tree_bytes, write_clip, write_detections  # noqa: E402
from orion_core.corpus.ray_executor import NAME_PREFIX  # noqa: E402
from orion_core.engine import PerceptionEngine  # noqa: E402

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=REASON)
GOOD = sorted(CLIPS)


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if not AVAILABLE:
        pytest.skip(REASON)
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def test_ray_matches_local_and_skips_on_rerun(corpus, ray_local, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    expected = PerceptionEngine(histogram_config(corpus.detections, local)).process_videos([corpus.videos], workers=1)
    engine = PerceptionEngine(histogram_config(corpus.detections, remote))
    results = engine.process_videos([corpus.videos], executor="ray", workers=2)
    assert [(r.episode, r.status, r.error, r.counts) for r in results] == [(r.episode, r.status, r.error, r.counts) for r in expected]
    assert tree_bytes(remote) == tree_bytes(local)  # byte-identical tracks.txt, tracks.jsonl, memory.json
    record = json.loads((remote / "corpus.json").read_text())
    assert record["executor"] == "ray" and record["workers"] == 2 and record["totals"]["complete"] == 3 and record["totals"]["failed"] == 2
    assert all(r.worker.split(":")[1] != str(os.getpid()) for r in results if r.status == "complete")
    again = engine.process_videos([corpus.videos], executor="ray")
    assert {r.episode: r.status for r in again} == {**{s: "skipped" for s in GOOD}, "broken": "failed", "nodets": "failed"}
    deadline = time.monotonic() + 30  # ray.kill is asynchronous
    while ray.util.list_named_actors() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.util.list_named_actors() == []  # our actors are gone, the instance (not ours) still runs
    assert ray.is_initialized()


def test_ray_worker_killed_mid_video_is_retried(corpus, ray_local, tmp_path):
    stem, start, frames = SLOW
    videos, dets = tmp_path / "videos", tmp_path / "dets"
    write_clip(videos / f"{stem}.mp4", start, frames)
    write_detections(dets / f"{stem}.txt", start, frames)
    reference = tmp_path / "reference"
    PerceptionEngine(histogram_config(dets, reference)).process_videos([videos])

    out = tmp_path / "out"
    engine = PerceptionEngine(histogram_config(dets, out))
    box = {}

    def corpus_run():
        try:
            box["results"] = engine.process_videos([videos], executor="ray", workers=1)
        except BaseException as exc:  # shown by the assertion below instead of lost in the thread
            box["error"] = exc

    runner = threading.Thread(target=corpus_run)
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        staging = list(out.glob(f".{stem}.partial-*")) if out.exists() else []
        names = [a for a in ray.util.list_named_actors() if a.startswith(NAME_PREFIX)]
        if staging and names:  # the video is being processed: kill the process that does it
            status = ray.get(ray.get_actor(names[0]).status.remote())
            if status["video"] and status["video"].endswith(f"{stem}.mp4"):
                os.kill(status["pid"], signal.SIGKILL)
                killed = status["pid"]
        time.sleep(0.05)
    runner.join(180)
    assert "error" not in box, box.get("error")
    assert killed is not None, "the video finished before the test could kill its worker"
    (result,) = box["results"]
    assert result.status == "complete" and result.error is None
    assert result.worker.split(":")[1] != str(killed)  # done by the restarted actor
    episodes = [p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert episodes == [stem]  # exactly one episode
    assert json.loads((out / stem / "run.json").read_text())["complete"] is True
    assert tree_bytes(out) == tree_bytes(reference)
