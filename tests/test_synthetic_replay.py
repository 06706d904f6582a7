"""Replaying given tracks (orion_core.synthetic.replay_scene): the rendered scene must be the tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orion_core.errors import ConfigError
from orion_core.evaluate import read_mot_file
from orion_core.synthetic import (
    FITTED_FAULTS,
    REALISTIC_FAULTS,
    DetectorFaults,
    TrackBox,
    lookalike_pairs,
    read_track_boxes,
    replay_scene,
    subsample_tracks,
)

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


def test_clothing_changes_only_what_people_wear(tmp_path: Path):
    """Street-coloured people (`textures="clothing"`) are a stress for appearance alone: the
    detections, hence every motion-only tracker's result, stay those of the default textures."""
    plain = replay_scene(tmp_path / "plain", hand_made_tracks(), SIZE, fps=25.0, seed=3, video=False)
    worn = replay_scene(tmp_path / "worn", hand_made_tracks(), SIZE, fps=25.0, seed=3, video=False,
                        textures="clothing", lookalikes=1)
    assert worn.det_path.read_bytes() == plain.det_path.read_bytes()
    assert worn.gt_path.read_bytes() == plain.gt_path.read_bytes()
    assert worn.textures == {1: "clothing-1", 2: "clothing-1-twin", 3: "clothing-3"}


def test_clothing_people_look_more_alike_than_photos_and_patterns():
    """The point of the mode: a crowd in street colours has near-repeats, unlike the default."""
    from orion_core.synthetic import _object_textures, _ReplayTrack

    def closest_pair(mode: str) -> float:
        people = [_ReplayTrack(object_id=i, boxes={}, aspect=0.4) for i in range(1, 13)]
        _, images = _object_textures(np.random.default_rng(0), people, mode)
        small = [cv2.resize(images[i], (16, 40), interpolation=cv2.INTER_AREA).astype(np.float32) for i in images]
        return min(float(np.abs(a - b).mean()) for n, a in enumerate(small) for b in small[n + 1:])

    cv2 = pytest.importorskip("cv2")
    assert closest_pair("clothing") < 0.7 * min(closest_pair("auto"), closest_pair("procedural"))


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


# --- detector faults (DetectorFaults): a real detector's habits, each measured on its own ---

def rows_by_frame(info) -> dict[int, list[tuple[float, ...]]]:
    dets = np.loadtxt(info.det_path, delimiter=",", ndmin=2)
    out: dict[int, list[tuple[float, ...]]] = {}
    for row in dets:
        out.setdefault(int(row[0]), []).append(tuple(row[2:7]))
    return out


def walker(frames: int) -> list[TrackBox]:
    """One person crossing a wide frame slowly, never hidden."""
    return [TrackBox(f, 1, 20 + 0.05 * f, 40.0, 40.0, 100.0) for f in range(1, frames + 1)]


def test_no_faults_is_exactly_the_clean_detector(tmp_path: Path):
    plain = replay_scene(tmp_path / "a", hand_made_tracks(), SIZE, fps=25.0, video=False)
    none = replay_scene(tmp_path / "b", hand_made_tracks(), SIZE, fps=25.0, video=False, det_faults=DetectorFaults())
    assert plain.det_path.read_bytes() == none.det_path.read_bytes()
    assert plain.det_faults is None and none.det_faults is None
    faulty = replay_scene(tmp_path / "c", hand_made_tracks(), SIZE, fps=25.0, video=False, det_faults=REALISTIC_FAULTS)
    assert faulty.det_faults == REALISTIC_FAULTS.to_dict()
    assert faulty.gt_path.read_bytes() == plain.gt_path.read_bytes()  # faults change detections only


def test_overlapping_people_can_be_reported_as_one_box_around_both(tmp_path: Path):
    # both visible enough to detect (the far one is 37.5% visible); IoU of the two boxes is 0.44
    info = replay_scene(tmp_path, hand_made_tracks(), SIZE, fps=25.0, video=False, det_jitter=0.0,
                        det_min_visibility=0.3, det_faults=DetectorFaults(merges=1.0), **clean())
    frames = rows_by_frame(info)
    for f in range(1, 13):
        union = [b for b in frames[f] if b[0] < 200]
        assert len(union) == 1 and union[0][:4] == (100.0, 60.0, 80.0, 175.0)
        assert 0.5 <= union[0][4] <= 0.8  # merged boxes score low
    assert all(len([b for b in frames[f] if b[0] >= 200]) == 1 for f in range(5, 13))  # object 3 stays alone


def test_misses_come_in_streaks_of_the_given_length_in_seconds(tmp_path: Path):
    info = replay_scene(tmp_path, walker(3000), (400, 200), fps=25.0, video=False, det_jitter=0.0, lookalikes=0,
                        det_dropout=0.2, det_false_positives=0.0, det_faults=DetectorFaults(miss_streak=0.4))
    seen = np.zeros(3001, bool)
    seen[list(rows_by_frame(info))] = True
    missed = ~seen[1:]
    starts = np.flatnonzero(missed[1:] & ~missed[:-1])
    assert missed.mean() == pytest.approx(0.2, abs=0.05)  # the long-run miss fraction is det_dropout
    assert missed.sum() / max(len(starts), 1) == pytest.approx(0.4 * 25, rel=0.3)  # mean streak: 10 frames
    at_8fps = replay_scene(tmp_path / "slow", walker(3000), (400, 200), fps=25.0, step=3, video=False,
                           det_jitter=0.0, lookalikes=0, det_dropout=0.2, det_false_positives=0.0,
                           det_faults=DetectorFaults(miss_streak=0.4))
    seen = np.zeros(1001, bool)
    seen[list(rows_by_frame(at_8fps))] = True
    missed = ~seen[1:]
    starts = np.flatnonzero(missed[1:] & ~missed[:-1])
    assert missed.sum() / max(len(starts), 1) == pytest.approx(0.4 * 25 / 3, rel=0.3)  # the same 0.4 s


def test_duplicates_are_upper_body_boxes_and_clutter_stays_put(tmp_path: Path):
    info = replay_scene(tmp_path, walker(200), (400, 200), fps=25.0, video=False, det_jitter=0.0, lookalikes=0,
                        det_dropout=0.0, det_false_positives=0.0,
                        det_faults=DetectorFaults(duplicates=1.0, clutter=2))
    frames = rows_by_frame(info)
    person = {f: [b for b in boxes if abs(b[1] - 40.0) < 1e-6 and b[0] == round(20 + 0.05 * f)]
              for f, boxes in frames.items()}
    for f in range(1, 201):
        full, upper = sorted(person[f], key=lambda b: -b[3])
        assert full[3] == 100.0 and 55.0 <= upper[3] <= 80.0 and upper[4] < 0.76
    clutter = {b[:4] for f, boxes in frames.items() for b in boxes if b not in person[f]}
    assert 1 <= len(clutter) <= 2  # fixed places, whatever the frame
    shown = sum(1 for f, boxes in frames.items() for b in boxes if b not in person[f])
    assert 0.3 * 2 * 200 * 0.6 < shown < 0.3 * 2 * 200 * 1.4


def test_width_noise_and_height_noise_are_set_apart(tmp_path: Path):
    info = replay_scene(tmp_path, walker(400), (400, 200), fps=25.0, video=False, det_jitter=0.0, lookalikes=0,
                        det_dropout=0.0, det_false_positives=0.0,
                        det_faults=DetectorFaults(scale_jitter=0.02, scale_jitter_x=0.2))
    dets = np.loadtxt(info.det_path, delimiter=",", ndmin=2)
    truth_left = 20 + 0.05 * dets[:, 0]
    inside = dets[:, 2] > 0  # boxes the frame's left edge did not clip
    left = (dets[inside, 2] - np.round(truth_left[inside])) / 40.0
    top = (dets[:, 3] - 40.0) / 100.0
    assert np.std(left) == pytest.approx(0.2, rel=0.2)
    assert np.std(top) == pytest.approx(0.02, rel=0.2)


def test_miss_fraction_overrides_the_scenes_dropout(tmp_path: Path):
    info = replay_scene(tmp_path, walker(3000), (400, 200), fps=25.0, video=False, det_jitter=0.0, lookalikes=0,
                        det_dropout=0.0, det_false_positives=0.0,
                        det_faults=DetectorFaults(miss_fraction=0.3, miss_streak=0.2))
    seen = np.zeros(3001, bool)
    seen[list(rows_by_frame(info))] = True
    assert (~seen[1:]).mean() == pytest.approx(0.3, abs=0.05)


def test_a_partly_hidden_person_is_found_on_the_given_share_of_frames(tmp_path: Path):
    # FAR is 37.5% visible behind NEAR; NEAR is fully visible; a third person is cut by the frame's
    # right edge (half outside) and hidden by no one: occlusion, not the frame, decides
    tracks = []
    for f in range(1, 401):
        tracks += [TrackBox(f, 1, *FAR), TrackBox(f, 2, *NEAR), TrackBox(f, 3, 300.0, 20.0, 40.0, 100.0)]
    info = replay_scene(tmp_path, tracks, SIZE, fps=25.0, video=False, det_jitter=0.0, det_min_visibility=0.3,
                        det_faults=DetectorFaults(occluded_detect=0.4), **clean())
    frames = rows_by_frame(info)
    far = sum(any(b[:4] == (100.0, 60.0, 60.0, 160.0) for b in boxes) for boxes in frames.values())
    near = sum(any(b[:4] == (120.0, 70.0, 60.0, 165.0) for b in boxes) for boxes in frames.values())
    cut = sum(any(b[0] == 300.0 for b in boxes) for boxes in frames.values())
    assert far / 400 == pytest.approx(0.4, abs=0.07)
    assert near == 400 and cut == 400


def test_faster_rcnn_scores_sit_near_one_and_lower_for_hidden_people(tmp_path: Path):
    tracks = [TrackBox(f, i, *box) for f in range(1, 401) for i, box in ((1, FAR), (2, NEAR))]
    info = replay_scene(tmp_path, tracks, SIZE, fps=25.0, video=False, det_jitter=0.0, det_min_visibility=0.3,
                        det_faults=DetectorFaults(faster_rcnn_scores=True), **clean())
    dets = np.loadtxt(info.det_path, delimiter=",", ndmin=2)
    near, far = dets[dets[:, 2] == 120.0, 6], dets[dets[:, 2] == 100.0, 6]
    assert len(near) == len(far) == 400
    assert dets[:, 6].min() >= 0.5
    assert np.median(near) == pytest.approx(0.98, abs=0.01)
    assert np.percentile(near, 10) > 0.9
    assert np.percentile(far, 10) < np.percentile(near, 10) - 0.2  # 37.5% visible: a long low tail


def test_wide_duplicates_sit_beside_the_person(tmp_path: Path):
    info = replay_scene(tmp_path, walker(300), (400, 200), fps=25.0, video=False, det_jitter=0.0, lookalikes=0,
                        det_dropout=0.0, det_false_positives=0.0,
                        det_faults=DetectorFaults(duplicates=1.0, wide_duplicates=True))
    widths = [sorted(b[2] for b in boxes) for boxes in rows_by_frame(info).values()]
    assert all(len(w) == 2 for w in widths)
    wider = np.array([w[1] for w in widths if w[0] == 40.0]) / 40.0
    assert len(wider) > 250 and wider.min() >= 0.99 and np.median(wider) == pytest.approx(1.65, abs=0.2)


def test_the_fitted_detector_is_recorded_in_the_scene(tmp_path: Path):
    info = replay_scene(tmp_path, hand_made_tracks(), SIZE, fps=25.0, video=False, det_faults=FITTED_FAULTS)
    assert info.det_faults == FITTED_FAULTS.to_dict() and info.det_faults["scale_jitter_x"] == 0.125


@pytest.mark.parametrize("bad", [DetectorFaults(merges=1.5), DetectorFaults(scale_jitter=-1.0),
                                 DetectorFaults(clutter=-1), DetectorFaults(duplicates=2.0),
                                 DetectorFaults(occluded_detect=1.5), DetectorFaults(miss_fraction=-0.1),
                                 DetectorFaults(scale_jitter_x=-0.1)])
def test_bad_faults_are_one_line_config_errors(tmp_path: Path, bad: DetectorFaults):
    with pytest.raises(ConfigError, match="det_faults"):
        replay_scene(tmp_path, hand_made_tracks(), SIZE, fps=25.0, video=False, det_faults=bad)


def channel_means(info) -> np.ndarray:
    """(frames, 3) mean R, G, B of each frame of a rendered scene's video."""
    from orion_core.video import open_video

    source = open_video(info.video_path)
    try:
        return np.array([frame.image.reshape(-1, 3).astype(float).mean(axis=0) for frame in source])
    finally:
        source.close()


def test_exposure_swings_the_pixels_and_nothing_else(tmp_path: Path):
    """`exposure` films the same scene under a changing brightness (auto-exposure, clouds): the
    frames scale by 1 + exposure * sin(2 pi t / EXPOSURE_PERIOD_S); boxes and detections stay."""
    from orion_core.synthetic import EXPOSURE_PERIOD_S

    # one frame a quarter cycle: frames 1-4 at gains 1, 1.3, 1, 0.7
    swung = replay_scene(tmp_path / "b", hand_made_tracks(), SIZE, fps=4.0 / EXPOSURE_PERIOD_S, seed=3, exposure=0.3,
                         **clean())
    steady = replay_scene(tmp_path / "a", hand_made_tracks(), SIZE, fps=4.0 / EXPOSURE_PERIOD_S, seed=3, **clean())
    assert swung.gt_path.read_text() == steady.gt_path.read_text()
    assert swung.det_path.read_text() == steady.det_path.read_text()
    assert '"exposure": 0.3' in swung.scene_path.read_text()

    ratio = channel_means(swung).mean(axis=1) / channel_means(steady).mean(axis=1)
    assert ratio[0] == pytest.approx(1.0, abs=0.01) and ratio[2] == pytest.approx(1.0, abs=0.01)
    assert ratio[3] == pytest.approx(0.7, abs=0.01)
    assert ratio[1] == pytest.approx(1.3, abs=0.02)
    with pytest.raises(ConfigError, match="exposure"):
        replay_scene(tmp_path / "c", hand_made_tracks(), SIZE, fps=25.0, exposure=1.5)


def test_white_balance_swings_red_against_blue(tmp_path: Path):
    """`white_balance` films the scene under a drifting white balance: red scales by 1 + wb * sin,
    blue by 1 - wb * sin, green stays; boxes and detections stay."""
    from orion_core.synthetic import EXPOSURE_PERIOD_S

    swung = replay_scene(tmp_path / "b", hand_made_tracks(), SIZE, fps=4.0 / EXPOSURE_PERIOD_S, seed=3,
                         white_balance=0.1, **clean())
    steady = replay_scene(tmp_path / "a", hand_made_tracks(), SIZE, fps=4.0 / EXPOSURE_PERIOD_S, seed=3, **clean())
    assert swung.det_path.read_text() == steady.det_path.read_text()
    assert '"white_balance": 0.1' in swung.scene_path.read_text()
    ratio = channel_means(swung) / channel_means(steady)  # frames 1-4: sin 0, 1, 0, -1
    np.testing.assert_allclose(ratio[0], 1.0, atol=0.01)
    np.testing.assert_allclose(ratio[1], [1.1, 1.0, 0.9], atol=0.02)
    np.testing.assert_allclose(ratio[3], [0.9, 1.0, 1.1], atol=0.02)
    with pytest.raises(ConfigError, match="white_balance"):
        replay_scene(tmp_path / "c", hand_made_tracks(), SIZE, fps=25.0, white_balance=-0.1)
