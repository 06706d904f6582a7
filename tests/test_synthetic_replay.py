"""Replaying given tracks (orion_core.synthetic.replay_scene): the rendered scene must be the tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orion_core.errors import ConfigError
from orion_core.evaluate import read_mot_file
from orion_core.synthetic import TrackBox, lookalike_pairs, read_track_boxes, replay_scene, subsample_tracks

SIZE = (320, 240)
# frames 1-12: object 1 stands still; object 2 stands in front of it (lower box bottom = nearer) and
# covers 40 of its 60 columns over 150 of its 160 rows; object 3 walks in from frame 5, apart.
FAR = (100, 60, 60, 160)  # left, top, w, h: bottom 220
NEAR = (120, 70, 60, 165)  # bottom 235
COVERED = 40 * 150 / (60 * 160)


def hand_made_tracks() -> list[TrackBox]:
    tracks = []
    for f in range(1, 13):
        tracks.append(TrackBox(f, 1, *FAR))
        tracks.append(TrackBox(f, 2, *NEAR))
        if f >= 5:
            tracks.append(TrackBox(f, 3, 250 + 2 * f, 50.0, 40.0, 100.0))
    return tracks


def clean(**kwargs):
    """Detections without random misses or false positives: only visibility decides."""
    return dict(det_dropout=0.0, det_false_positives=0.0, lookalikes=0, **kwargs)


def test_replay_ground_truth_is_the_tracks_and_the_video_has_every_frame(tmp_path: Path):
    import cv2

    info = replay_scene(tmp_path, hand_made_tracks(), SIZE, fps=25.0, **clean())
    gt = read_mot_file(info.gt_path, "gt")
    assert info.frames == 12 and info.fps == 25.0
    assert sorted(set(gt.ids.tolist())) == [1, 2, 3]
    assert len(gt.ids) == 12 + 12 + 8  # one row per recorded box, every box inside the frame
    rows = {(int(f), int(i)): tuple(b) for f, i, b in zip(gt.frames, gt.ids, gt.boxes)}
    assert rows[(3, 1)] == FAR and rows[(3, 2)] == NEAR and rows[(7, 3)] == (264, 50, 40, 100)
    assert (4, 3) not in rows
    cap = cv2.VideoCapture(str(info.video_path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 12
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == SIZE
    cap.release()


def test_the_nearer_box_is_drawn_last_and_hides_the_farther_one(tmp_path: Path):
    """Depth order: the larger box bottom is nearer; the far box's visibility is what is left of it,
    and the detector misses it (below det_min_visibility 0.5) while seeing the near one."""
    info = replay_scene(tmp_path, hand_made_tracks(), SIZE, fps=25.0, video=False, **clean())
    assert info.visibility[(1, 2)] == pytest.approx(1.0)
    assert info.visibility[(1, 1)] == pytest.approx(1.0 - COVERED)
    dets = np.loadtxt(info.det_path, delimiter=",", ndmin=2)
    frame1 = dets[dets[:, 0] == 1]
    assert len(frame1) == 1 and abs(frame1[0, 2] - NEAR[0]) < 10  # only the near object, jittered
    assert len(dets) == 12 + 8  # objects 2 and 3, every frame they are present

    swapped = [TrackBox(t.frame, 3 - t.object_id, t.left, t.top, t.width, t.height) if t.object_id < 3 else t
               for t in hand_made_tracks()]  # ids exchanged: depth, not id order, decides
    again = replay_scene(tmp_path / "swapped", swapped, SIZE, fps=25.0, video=False, **clean())
    assert again.visibility[(1, 1)] == pytest.approx(1.0) and again.visibility[(1, 2)] == pytest.approx(1.0 - COVERED)


def test_subsampling_keeps_every_nth_frame_and_divides_the_rate(tmp_path: Path):
    tracks = hand_made_tracks()
    kept = subsample_tracks(tracks, 3)
    assert sorted({t.frame for t in kept}) == [1, 2, 3, 4]  # frames 1, 4, 7, 10 renumbered
    assert [t.left for t in kept if t.object_id == 3] == [264.0, 270.0]  # frames 7 and 10
    info = replay_scene(tmp_path, tracks, SIZE, fps=25.0, step=3, video=False, **clean())
    assert info.frames == 4 and info.fps == pytest.approx(25.0 / 3)
    gt = read_mot_file(info.gt_path, "gt")
    assert len(gt.ids) == 4 + 4 + 2
    assert subsample_tracks(tracks, 2, phase=1)[0].frame == 1
    with pytest.raises(ConfigError):
        subsample_tracks(tracks, 0)


def test_lookalike_pair_is_the_closest_pair_and_shares_a_texture(tmp_path: Path):
    tracks = hand_made_tracks()
    assert lookalike_pairs(tracks, 1) == [(1, 2)]
    assert lookalike_pairs(tracks, 5) == [(1, 2)]  # disjoint pairs only
    info = replay_scene(tmp_path, tracks, SIZE, fps=25.0, video=False, lookalikes=1)
    assert info.lookalike_ids == [1, 2]
    assert info.textures[2] == info.textures[1] + "-twin" and info.textures[3] != info.textures[1]


def test_seed_changes_noise_not_ground_truth(tmp_path: Path):
    a = replay_scene(tmp_path / "a", hand_made_tracks(), SIZE, fps=25.0, seed=0, video=False)
    b = replay_scene(tmp_path / "b", hand_made_tracks(), SIZE, fps=25.0, seed=1, video=False)
    c = replay_scene(tmp_path / "c", hand_made_tracks(), SIZE, fps=25.0, seed=0, video=False)
    assert a.gt_path.read_bytes() == b.gt_path.read_bytes() == c.gt_path.read_bytes()
    assert a.det_path.read_bytes() == c.det_path.read_bytes() != b.det_path.read_bytes()


def test_read_track_boxes_drops_rows_not_considered(tmp_path: Path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,10,20,30,40,1,-1,-1,-1\n1,2,50,20,30,40,0,-1,-1,-1\n2,1,12,20,30,40\n", encoding="utf-8")
    rows = read_track_boxes(path)
    assert [(r.frame, r.object_id) for r in rows] == [(1, 1), (2, 1)]


@pytest.mark.parametrize("name, frames, ids", [("TUD-Campus", 71, 8), ("TUD-Stadtmitte", 179, 10)])
def test_motmetrics_tud_ground_truth_replays(tmp_path: Path, name: str, frames: int, ids: int):
    """The real trajectories behind benchmarks/trajectories.py: MOT rows, frames 1-based, all considered."""
    motmetrics = pytest.importorskip("motmetrics")
    import importlib.resources

    path = importlib.resources.files(motmetrics) / "data" / name / "gt.txt"
    tracks = read_track_boxes(path)
    raw = np.loadtxt(str(path), delimiter=",")
    assert len(tracks) == len(raw) and (raw[:, 6] == 1).all()
    assert min(t.frame for t in tracks) == 1 and max(t.frame for t in tracks) == frames
    assert len({t.object_id for t in tracks}) == ids
    info = replay_scene(tmp_path, tracks, (640, 480), fps=25.0, step=3, video=False)
    assert info.frames == (frames - 1) // 3 + 1
    assert set(read_mot_file(info.gt_path, "gt").ids.tolist()) <= {t.object_id for t in tracks}
