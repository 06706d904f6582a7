"""The offline tracklet pass: smoothing, gap filling, linking, and outputs that agree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orion_core.tracking.offline import (
    Observations,
    OfflineSettings,
    cut_sides,
    fit_bar,
    gap_fill,
    interpolate_entities,
    late_clashes,
    longest_run,
    link_entities,
    rts_smooth,
    run_pass,
    unsupported_ends,
    unsupported_entities,
    visible_fraction,
)

FPS = 25.0


def observations(rows: list[tuple[int, int, int, list[float]]], embeddings: dict | None = None) -> Observations:
    """rows: (frame, entity, track, xyxy); entity doubles as the online entity id. Sorted by frame."""
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    n = len(rows)
    emb_row = np.arange(n) if embeddings is not None else np.full(n, -1)
    return Observations(
        frame=np.array([r[0] for r in rows], np.int64),
        time_s=np.array([(r[0] - 1) / FPS for r in rows]),
        entity=np.array([r[1] for r in rows], np.int64),
        track=np.array([r[2] for r in rows], np.int64),
        label=np.zeros(n, np.int64),
        labels=["person"],
        box=np.array([r[3] for r in rows], np.float64),
        det=np.array([r[3] for r in rows], np.float64),
        conf=np.full(n, 0.9),
        emb_row=emb_row,
    )


def walker(frames, x0: float, y0: float, vx: float, vy: float = 0.0, w: float = 40, h: float = 100):
    return [[x0 + vx * (f - frames[0]), y0 + vy * (f - frames[0]), x0 + vx * (f - frames[0]) + w, y0 + vy * (f - frames[0]) + h] for f in frames]


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_smoothing_reduces_jitter_on_a_known_track():
    rng = np.random.default_rng(0)
    frames = np.arange(1, 81)
    truth = np.array(walker(list(frames), 50, 80, 2.0, 0.5))
    noisy = truth + rng.normal(0, 3.0, truth.shape)
    states = rts_smooth(frames, noisy, np.ones(len(frames), np.int64))
    from orion_core.tracking import kalman

    smoothed = kalman.state_to_xyxy(states)
    raw_error = np.abs(noisy - truth)[5:-5].mean()
    smooth_error = np.abs(smoothed - truth)[5:-5].mean()
    assert smooth_error < 0.6 * raw_error
    # the estimated velocity is the true one
    np.testing.assert_allclose(np.median(states[10:-10, 4:6], axis=0), [2.0, 0.5], atol=0.2)


def test_smoothing_handles_many_tracks_of_different_lengths_and_gaps():
    frames = np.array([1, 2, 3, 7, 8, 1, 2, 5])
    groups = np.array([1, 1, 1, 1, 1, 2, 2, 2])
    boxes = np.array(walker([1, 2, 3, 7, 8], 0, 0, 3.0) + walker([1, 2, 5], 200, 0, -1.0))
    states = rts_smooth(frames, boxes, groups)
    from orion_core.tracking import kalman

    # noise-free straight lines stay (nearly) where they are, gaps included
    np.testing.assert_allclose(kalman.state_to_xyxy(states), boxes, atol=1.0)
    assert states[0, 4] == pytest.approx(3.0, abs=0.5) and states[5, 4] == pytest.approx(-1.0, abs=0.5)


def test_smoothing_in_chunks_of_whole_tracks_gives_the_same_states(monkeypatch):
    """Long videos are smoothed a chunk of tracks at a time (bounded memory): same numbers."""
    from orion_core.tracking import offline

    rng = np.random.default_rng(4)
    rows = []
    for track in range(1, 30):
        frames = np.sort(rng.choice(np.arange(1, 200), size=int(rng.integers(1, 40)), replace=False))
        boxes = np.array(walker(list(frames), rng.uniform(0, 500), rng.uniform(0, 300), rng.normal(0, 3)))
        rows += [(f, track, b + rng.normal(0, 2, 4)) for f, b in zip(frames, boxes)]
    rng.shuffle(rows)
    frames = np.array([r[0] for r in rows])
    groups = np.array([r[1] for r in rows])
    boxes = np.array([r[2] for r in rows])
    whole = rts_smooth(frames, boxes, groups)
    monkeypatch.setattr(offline, "SMOOTH_CHUNK_ROWS", 25)
    np.testing.assert_array_equal(rts_smooth(frames, boxes, groups), whole)


def test_gap_fill_fills_a_gap_up_to_the_limit_in_seconds_and_not_longer():
    processed = np.arange(1, 101)
    times = (processed - 1) / FPS
    frames = np.array([10, 20, 60])  # gaps: 10 frames = 0.4 s, 40 frames = 1.6 s
    boxes = np.array([[0, 0, 10, 10], [10, 0, 20, 10], [50, 0, 60, 10]], float)
    f, t, b, prev = gap_fill(frames, times[frames - 1], boxes, processed, times, limit_s=1.0)
    assert f.tolist() == list(range(11, 20)) and prev.tolist() == [0] * 9
    np.testing.assert_allclose(b[4], [5, 0, 15, 10])  # frame 15, halfway
    np.testing.assert_allclose(t, times[10:19])
    f, *_ = gap_fill(frames, times[frames - 1], boxes, processed, times, limit_s=2.0)
    assert len(f) == 9 + 39
    # only frames the online stage processed are filled (video.fps sampling)
    sampled = processed[::3]
    f, *_ = gap_fill(np.array([10, 22]), times[[9, 21]], boxes[:2], sampled, (sampled - 1) / FPS, limit_s=1.0)
    assert f.tolist() == [13, 16, 19]


def fill(frames, processed, times, min_run, others=()):
    """interpolate_entities on entity 1 seen on `frames` (a fixed box) plus other entities' rows
    (frame, entity, xyxy); returns the filled frames of entity 1."""
    rows = [(int(f), 1, (0.0, 0.0, 10.0, 10.0)) for f in frames] + list(others)
    frame = np.array([r[0] for r in rows])
    entity = np.array([r[1] for r in rows])
    box = np.array([r[2] for r in rows], float)
    out = interpolate_entities(frame, times[frame - 1], entity, box, processed, times[processed - 1], 1.0, min_run)
    if out is None:
        return []
    f, _, _, prev = out
    return sorted(f[entity[prev] == 1].tolist())


def test_gaps_are_filled_in_steady_entities_or_where_something_hid_the_object():
    """A false positive firing on a third of the frames is not drawn in between its hits; a real
    object is filled once it had a steady stretch, or where another box hid it."""
    processed = np.arange(1, 101)
    times = (processed - 1) / FPS
    flicker = np.arange(1, 100, 3)  # seen on frames 1, 4, 7, ...: longest run 1
    assert longest_run(flicker, processed) == 1
    assert fill(flicker, processed, times, min_run=8) == []
    assert len(fill(flicker, processed, times, min_run=0)) == 2 * (len(flicker) - 1)  # every 2-frame hole
    # flickers into an occlusion (frames 2-3, 6-11 missed), then is seen 12..19 (a run of 8)
    person = np.r_[1, 4:6, 12:20, 25:30]
    assert longest_run(person, processed) == 8
    assert fill(person, processed, times, min_run=8) == [2, 3, 6, 7, 8, 9, 10, 11, 20, 21, 22, 23, 24]
    assert fill(person, processed, times, min_run=9) == []
    # not steady enough, but entity 2 stands over it on frames 6-9 (4 of the 6 missed frames 6-11):
    # that gap is explained and filled; the unexplained ones are not
    occluder = [(f, 2, (2.0, 0.0, 14.0, 12.0)) for f in range(6, 10)]  # covers 80% of the box
    assert fill(person, processed, times, min_run=9, others=occluder) == [6, 7, 8, 9, 10, 11]
    beside = [(f, 2, (6.0, 0.0, 18.0, 12.0)) for f in range(6, 10)]  # covers 40%: not hidden
    assert fill(person, processed, times, min_run=9, others=beside) == []
    # a short life seen densely (8 of 10 frames, runs of 4) is steady too; clutter at 1 in 3 is not
    short = np.r_[1:5, 7:11]
    assert fill(short, processed, times, min_run=8) == [5, 6]
    assert fill(np.r_[1:4, 6, 9, 12], processed, times, min_run=8) == []  # 6 of 12 frames
    # runs count processed frames: a run every 3rd frame (video.fps sampling) is a steady run
    sampled = processed[::3]
    steady = np.r_[sampled[:10], sampled[12:20]]
    assert longest_run(steady, sampled) == 10
    assert fill(steady, sampled, times, min_run=8) == sampled[10:12].tolist()


def test_a_gap_in_which_the_object_left_the_view_and_came_back_is_filled_only_where_something_hid_it():
    """An object that walks out through a border and back in leaves a gap no box should be drawn
    in: it is filled only where another box hid it. Gaps of an object cut by the border that moves
    along it, goes one way only, or could not have left and come back in the time are filled as
    before, and without `frame_size` nothing changes."""
    processed = np.arange(1, 101)
    times = (processed - 1) / FPS  # 25 fps
    size = (200, 100)  # width, height

    def box_at(x0: float) -> tuple:
        """A 20 px wide person whose left edge is at x0, cut by the right border beyond x0 = 180."""
        return (x0, 40.0, min(x0 + 20.0, 200.0), 60.0)

    def filled(rows, others=(), frame_size=size):
        rows = list(rows) + list(others)
        frame = np.array([r[0] for r in rows])
        entity = np.array([r[1] for r in rows])
        box = np.array([r[2] for r in rows], float)
        out = interpolate_entities(frame, times[frame - 1], entity, box, processed, times[processed - 1], 2.0, 8,
                                   frame_size, box)
        return [] if out is None else sorted(out[0][entity[out[3]] == 1].tolist())

    # walks right at 2 px a frame (50 px/s), out through the right border after frame 14, back in from 40
    out_and_back = [(f, 1, box_at(160.0 + 2 * (f - 1))) for f in range(1, 15)]
    out_and_back += [(f, 1, box_at(196.0 - 2 * (f - 40))) for f in range(40, 52)]
    assert cut_sides(np.array(box_at(186.0)), size) == {"right"} and cut_sides(np.array(box_at(150.0)), size) == set()
    gap = list(range(15, 40))
    assert filled(out_and_back) == []
    assert filled(out_and_back, frame_size=None) == gap
    # the same gap with another box over the object on most of its frames: hidden, filled
    occluder = [(f, 2, (170.0, 38.0, 200.0, 62.0)) for f in range(15, 40)]
    assert filled(out_and_back, others=occluder) == gap
    # missed while walking on out (cut on both sides of the gap, but still heading out after it)
    leaving = [(f, 1, box_at(160.0 + 0.5 * (f - 1))) for f in list(range(1, 50)) + list(range(56, 60))]
    assert filled(leaving) == [50, 51, 52, 53, 54, 55]
    # out and back in too fast to have left: 14 px still in view at 50 px/s, each way, needs 0.56 s
    quick = [(f, 1, box_at(160.0 + 2 * (f - 1))) for f in range(1, 15)]
    quick += [(f, 1, box_at(186.0 - 2 * (f - 18))) for f in range(18, 30)]
    assert filled(quick) == [15, 16, 17]


def test_the_pass_leaves_an_exit_and_return_unfilled_unless_told_to_fill_it(tmp_path):
    """run_pass with the frame's size: a person walking out at the right border and back in is not
    drawn at the border in between (`tracking.offline_interpolate_exits: false`); with the switch on,
    or without a frame size, the gap is filled as before."""
    from orion_core.config import TrackingConfig

    processed = np.arange(1, 61)
    times = (processed - 1) / FPS
    out_frames, in_frames = range(1, 21), range(45, 60)
    rows = [(f, 1, 1, b) for f, b in zip(out_frames, walker(out_frames, 560, 50, 3.0))]  # right edge 600 + ... > 640
    rows += [(f, 1, 2, b) for f, b in zip(in_frames, walker(in_frames, 630, 50, -3.0))]
    rows = [(f, e, t, [b[0], b[1], min(b[2], 640.0), b[3]]) for f, e, t, b in rows]  # the detector boxes what is in view
    obs = observations(rows)
    rule = OfflineSettings.from_config(TrackingConfig(offline_interpolate_exits=False), 0.75)
    fill = OfflineSettings.from_config(TrackingConfig(offline_interpolate_exits=True), 0.75)
    assert not rule.interpolate_exits and fill.interpolate_exits
    kept = run_pass(obs, None, rule, processed, times, frame_size=(640, 480))
    assert not kept.rows.interpolated.any() and kept.report["interpolate_exits"] is False
    for settings, size in [(fill, (640, 480)), (rule, None)]:
        filled = run_pass(obs, None, settings, processed, times, frame_size=size)
        assert sorted(filled.rows.frame[filled.rows.interpolated].tolist()) == list(range(21, 45))


def panning(processed: np.ndarray, shift) -> tuple[np.ndarray, np.ndarray]:
    """Camera warps (prev -> current frame) of a camera whose view moves the scene by `shift(t)` px in
    x at processed frame t, and those shifts."""
    s = np.array([shift(int(t)) for t in processed], np.float64)
    warps = np.tile(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (len(processed), 1, 1))
    warps[1:, 0, 2] = np.diff(s)
    return warps, s


def test_a_moving_camera_is_undone_before_smoothing_and_filling():
    """A person standing still, filmed by a camera that swings 40 px: in the image the box swings.
    With the camera's warps the pass smooths and fills where the person stands in the scene and
    returns each box to its frame (within a pixel); in image coordinates the fill is a straight
    line across the swing and the smoother lags it (tens of pixels off)."""
    from orion_core.config import TrackingConfig
    from orion_core.tracking.offline import camera_to_reference

    processed = np.arange(1, 61)
    times = (processed - 1) / FPS
    warps, s = panning(processed, lambda t: 40.0 * np.sin(2 * np.pi * t / 20))
    truth = {int(t): [300 + s[i], 100.0, 340 + s[i], 200.0] for i, t in enumerate(processed)}
    seen = [t for t in processed if not 21 <= t <= 30]
    obs = observations([(t, 1, 1 if t < 21 else 2, truth[t]) for t in seen])
    settings = OfflineSettings.from_config(TrackingConfig(), 0.75)

    def error(result) -> tuple[float, float]:
        rows = result.rows
        err = np.abs(rows.box - np.array([truth[int(f)] for f in rows.frame])).max(axis=1)
        return float(err[~rows.interpolated].max()), float(err[rows.interpolated].max())

    moved = run_pass(obs, None, settings, processed, times, (640, 480), warps)
    assert sorted(moved.rows.frame[moved.rows.interpolated].tolist()) == list(range(21, 31))
    assert max(error(moved)) < 1.0
    assert np.array_equal(moved.rows.det[~moved.rows.interpolated], obs.det)  # detections as they came
    image = run_pass(obs, None, settings, processed, times, (640, 480))
    assert error(image)[1] > 20.0 and error(image)[0] > 5.0
    # a still camera (identity warps) changes nothing, to the bit
    still = run_pass(obs, None, settings, processed, times, (640, 480), np.tile(np.eye(3)[:2], (60, 1, 1)))
    assert camera_to_reference(np.tile(np.eye(3)[:2], (60, 1, 1))) is None
    assert np.array_equal(still.rows.box, image.rows.box) and np.array_equal(still.rows.frame, image.rows.frame)
    ref = camera_to_reference(warps)  # frame t's pixels -> the first frame's: undoes the swing so far
    assert ref[12] @ np.array([300 + s[12], 150, 1.0]) == pytest.approx([300 + s[0], 150])


def test_a_degenerate_camera_warp_leaves_the_pass_in_image_coordinates():
    """A warp that cannot be inverted (a zero scale) must not end the run at commit: the pass then
    works in the image's coordinates, as it did before it knew the camera."""
    from orion_core.config import TrackingConfig
    from orion_core.tracking.offline import camera_to_reference

    processed = np.arange(1, 31)
    times = (processed - 1) / FPS
    warps = np.tile(np.eye(3)[:2], (30, 1, 1))
    warps[5] = 0.0
    assert camera_to_reference(warps) is None
    obs = observations([(int(t), 1, 1, [100.0 + t, 50.0, 140.0 + t, 150.0]) for t in processed if t != 12])
    settings = OfflineSettings.from_config(TrackingConfig(), 0.75)
    broken = run_pass(obs, None, settings, processed, times, (640, 480), warps)
    plain = run_pass(obs, None, settings, processed, times, (640, 480))
    assert np.array_equal(broken.rows.box, plain.rows.box) and broken.rows.interpolated.sum() == 1


@pytest.mark.parametrize("exits", [False, True])
def test_a_camera_that_swings_away_from_a_person_draws_nothing_while_they_are_out_of_view(exits):
    """The camera pans 100 px right and back; a person standing near the right border leaves the
    image in between. The fill for that gap would stand outside the picture: with the exit rule
    (default) the gap is an exit and return in image terms; with exits filled, the fill is still
    not reported where it is mostly out of view (`fills_out_of_view`)."""
    from orion_core.config import TrackingConfig

    processed = np.arange(1, 61)
    times = (processed - 1) / FPS
    warps, s = panning(processed, lambda t: 100.0 * np.sin(np.pi * (t - 1) / 59))
    boxes = {int(t): [540 + s[i], 100.0, 580 + s[i], 200.0] for i, t in enumerate(processed)}
    seen = [t for t in processed if boxes[t][0] + 20 <= 640]  # at least half in view: detected
    assert seen == list(range(1, 19)) + list(range(43, 61))
    obs = observations([(t, 1, 1 if t < 30 else 2, [b[0], b[1], min(b[2], 640.0), b[3]]) for t in seen for b in [boxes[t]]])
    settings = OfflineSettings.from_config(TrackingConfig(offline_interpolate_exits=exits), 0.75)
    result = run_pass(obs, None, settings, processed, times, (640, 480), warps)
    filled = result.rows.interpolated
    if not exits:
        assert not filled.any() and "fills_out_of_view" not in result.report
    else:  # the fill follows the (narrow, cut) box in view; where it is mostly outside it is dropped
        assert result.report["fills_out_of_view"] == 18 and filled.sum() == 24 - 18
        assert (visible_fraction(result.rows.box[filled], (640, 480)) >= 0.5).all()
        assert set(result.rows.frame[filled].tolist()) <= set(range(19, 25)) | set(range(37, 43))


def unsupported_scene() -> Observations:
    """Entity 1 walks through all 90 frames; 2 is clutter (one frame in 3, nothing over it); 3 is an
    upper-body box inside 1's box on every 4th frame; 4 stands still and is seen on 6 of 21
    frames, 5 standing over it on every frame it is missed (elsewhere otherwise)."""
    frames = list(range(1, 91))
    rows = [(f, 1, 1, box) for f, box in zip(frames, walker(frames, 20, 50, 2.0))]
    rows += [(f, 2, 2, [400.0, 300.0, 440.0, 400.0]) for f in range(10, 80, 3)]
    rows += [(f, 3, 3, [b[0] + 2, b[1] + 2, b[2] - 2, b[1] + 60]) for f, _, _, b in rows[:90] if f % 4 == 0]
    seen = [30, 31, 32, 40, 41, 50]
    rows += [(f, 4, 4, [200.0, 100.0, 240.0, 200.0]) for f in seen]
    rows += [(f, 5, 5, [195.0, 95.0, 245.0, 205.0] if 30 < f < 50 and f not in seen else [500.0, 100.0, 540.0, 200.0])
             for f in frames]
    return observations(rows)


def test_entities_the_video_does_not_support_are_left_out():
    """Clutter and a second box on a person go; a person seen as rarely but hidden in between,
    and every steady entity, stay. min_run 0 (every entity steady) drops nothing."""
    obs = unsupported_scene()
    processed = np.arange(1, 91)
    assert unsupported_entities(obs.frame, obs.entity, obs.track, obs.box, processed, 8).tolist() == [2, 3]
    assert unsupported_entities(obs.frame, obs.entity, obs.track, obs.box, processed, 0).tolist() == []
    # the same clutter seen on every other frame (half its life) is given the benefit of the doubt
    half = observations([(f, 2, 2, [400.0, 300.0, 440.0, 400.0]) for f in range(10, 80, 2)])
    assert unsupported_entities(half.frame, half.entity, half.track, half.box, processed, 8).tolist() == []
    # seen briefly, away for 50 frames, re-identified under a new track: the absence is no miss
    back = observations([(f, 6, 6, box) for f, box in zip(range(1, 6), walker(range(1, 6), 300, 10, 20.0))]
                        + [(f, 6, 7, box) for f, box in zip(range(56, 61), walker(range(56, 61), 10, 200, 15.0))])
    assert unsupported_entities(back.frame, back.entity, back.track, back.box, processed, 8).tolist() == []
    # seen in stretches of 3 between long unexplained misses (9 of 42 frames): a person, not a spot
    bursts = observations([(f, 7, 7, [300.0 + 2 * f, 100.0, 340.0 + 2 * f, 200.0]) for f in (1, 2, 3, 20, 21, 22, 40, 41, 42)])
    assert unsupported_entities(bursts.frame, bursts.entity, bursts.track, bursts.box, processed, 8).tolist() == []
    sparse = observations([(f, 7, 7, [300.0 + 2 * f, 100.0, 340.0 + 2 * f, 200.0]) for f in (1, 2, 3, 20, 21, 30, 40, 41, 42)])
    assert unsupported_entities(sparse.frame, sparse.entity, sparse.track, sparse.box, processed, 8).tolist() == [7]
    times = (processed - 1) / FPS
    result = run_pass(obs, None, OfflineSettings(link=False, smooth=False), processed, times)  # 5 jumps: unsmoothed
    assert result.report["dropped_entities"] == [2, 3]
    assert result.report["dropped_rows"] == int(np.isin(obs.entity, [2, 3]).sum())
    assert sorted(set(result.rows.entity.tolist())) == [1, 4, 5]
    filled = result.rows.frame[result.rows.interpolated & (result.rows.entity == 4)].tolist()
    assert filled == [f for f in range(33, 50) if f not in (40, 41)]  # hidden gaps still filled
    kept = run_pass(obs, None, OfflineSettings(link=False, smooth=False, drop_unsupported=False), processed, times)
    assert sorted(set(kept.rows.entity.tolist())) == [1, 2, 3, 4, 5] and "dropped_entities" not in kept.report


def drifting_scene(tail_hidden: bool = False) -> Observations:
    """Entity 1 walks (frames 1-40, every frame), then its track sits on a background spot the
    detector fires on now and then (6 views in frames 45-66). Entity 2 walks elsewhere, or, with
    `tail_hidden`, stands over the spot on every frame in between."""
    frames = list(range(1, 41))
    rows = [(f, 1, 1, box) for f, box in zip(frames, walker(frames, 20, 50, 2.0))]
    spot = [300.0, 200.0, 340.0, 300.0]
    rows += [(f, 1, 1, spot) for f in (45, 49, 52, 58, 61, 66)]
    over = [290.0, 190.0, 350.0, 310.0] if tail_hidden else [500.0, 20.0, 540.0, 120.0]
    rows += [(f, 2, 2, over) for f in range(1, 71)]
    return observations(rows)


def test_a_steady_entitys_unsupported_end_is_left_out():
    """The sporadic end of a steady entity goes (and no box is drawn through its misses); the
    same end stays when its misses are hidden, and so does a lone view, an entity that is steady
    throughout, and everything with min_run 0 or with the rule off."""
    processed = np.arange(1, 71)
    times = (processed - 1) / FPS
    obs = drifting_scene()
    ends = unsupported_ends(obs.frame, obs.entity, obs.track, obs.box, processed, 8)
    assert obs.frame[ends].tolist() == [45, 49, 52, 58, 61, 66] and set(obs.entity[ends].tolist()) == {1}
    assert not unsupported_ends(obs.frame, obs.entity, obs.track, obs.box, processed, 0).any()
    hidden = drifting_scene(tail_hidden=True)
    assert not unsupported_ends(hidden.frame, hidden.entity, hidden.track, hidden.box, processed, 8).any()
    # a lone view before the steady run says nothing either way; two sparse ones are judged
    lone = observations([(1, 3, 3, [300.0, 200.0, 340.0, 300.0])]
                        + [(f, 3, 3, box) for f, box in zip(range(30, 50), walker(range(30, 50), 20, 50, 2.0))])
    assert not unsupported_ends(lone.frame, lone.entity, lone.track, lone.box, processed, 8).any()
    two = observations([(f, 3, 3, [300.0, 200.0, 340.0, 300.0]) for f in (1, 12)]
                       + [(f, 3, 3, box) for f, box in zip(range(30, 50), walker(range(30, 50), 20, 50, 2.0))])
    assert two.frame[unsupported_ends(two.frame, two.entity, two.track, two.box, processed, 8)].tolist() == [1, 12]
    # the pass: the end's rows are out, nothing is filled between the walk and the spot
    result = run_pass(obs, None, OfflineSettings(link=False, smooth=False), processed, times)
    mine = result.rows.entity == 1
    assert result.rows.frame[mine].max() == 40 and not result.rows.interpolated[mine].any()
    assert result.report["trimmed_rows"] == 6 and result.report["dropped_rows"] == 6
    assert result.report["trimmed"] == [{"entity": 1, "first_frame": 45, "last_frame": 66, "rows": 6}]
    assert result.report["dropped_entities"] == []
    # a start and an end trimmed from one entity are two spans in run.json
    spot = [300.0, 200.0, 340.0, 300.0]
    both = observations([(f, 1, 1, spot) for f in (1, 6, 11)]
                        + [(f, 1, 1, box) for f, box in zip(range(20, 40), walker(range(20, 40), 20, 50, 2.0))]
                        + [(f, 1, 1, spot) for f in (45, 52, 60)])
    spans = run_pass(both, None, OfflineSettings(link=False, smooth=False), processed, times).report["trimmed"]
    assert spans == [{"entity": 1, "first_frame": 1, "last_frame": 11, "rows": 3},
                     {"entity": 1, "first_frame": 45, "last_frame": 60, "rows": 3}]
    kept = run_pass(obs, None, OfflineSettings(link=False, smooth=False, trim_unsupported=False), processed, times)
    assert kept.rows.frame[kept.rows.entity == 1].max() == 66 and "trimmed_rows" not in kept.report
    assert kept.rows.interpolated[kept.rows.entity == 1].sum() == 66 - 45 + 1 - 6 + 4  # 41-44 and the spot's misses


def two_people_scene(second_start: int, embeddings: bool = True, back_at: tuple[float, float] = (30, 300)):
    """Person A: entity 1 (frames 1-30) then entity 3 (frames second_start-70); person B: entity 2 throughout."""
    rng = np.random.default_rng(1)
    a_frames = list(range(1, 31))
    b_frames = list(range(1, 71))
    a2_frames = list(range(second_start, 71))
    rows = [(f, 1, 1, box) for f, box in zip(a_frames, walker(a_frames, 20, 50, 3.0))]
    rows += [(f, 2, 2, box) for f, box in zip(b_frames, walker(b_frames, 400, 60, -1.0))]
    rows += [(f, 3, 3, box) for f, box in zip(a2_frames, walker(a2_frames, *back_at, 2.0))]  # back elsewhere
    obs = observations(rows, embeddings={} if embeddings else None)
    if not embeddings:
        return obs, None
    look = {1: unit(rng.normal(size=16)), 2: unit(rng.normal(size=16))}
    person = {1: 1, 3: 1, 2: 2}
    emb = np.stack([unit(look[person[int(e)]] + rng.normal(0, 0.1, 16)) for e in obs.entity]).astype(np.float32)
    return obs, emb


def link(obs, emb, **settings):
    states = rts_smooth(obs.frame, obs.det, obs.track)
    return link_entities(obs, states, emb, OfflineSettings(**settings), (640, 480), 1 / FPS)


def test_linking_joins_two_tracklets_of_one_object_by_appearance():
    obs, emb = two_people_scene(second_start=50)
    aliases, report = link(obs, emb, reid_prior=0.8)
    assert aliases == {3: 1}
    assert report.links[0]["by"] == "appearance" and report.different_pairs == 2
    assert report.bar_source == "blend"  # two co-occurring pairs: mostly the prior


def test_linking_never_joins_tracklets_that_overlap_in_time():
    obs, emb = two_people_scene(second_start=25)  # entity 3 starts before entity 1 ends
    aliases, _ = link(obs, emb, reid_prior=0.5)
    assert aliases == {}


def test_linking_refuses_an_ambiguous_choice():
    """Two look-alikes appear after the object left: neither is clearly it, so no link."""
    obs, emb = two_people_scene(second_start=50)
    rows = [(f, 4, 4, box) for f, box in zip(range(50, 71), walker(list(range(50, 71)), 300, 300, 1.0))]
    extra = observations(rows, embeddings={})
    merged = Observations(*(np.r_[getattr(obs, k), getattr(extra, k)] if k != "labels" else obs.labels
                            for k in Observations.__dataclass_fields__))
    merged.emb_row = np.arange(len(merged))
    order = np.argsort(merged.frame, kind="stable")
    for k in Observations.__dataclass_fields__:
        if k != "labels":
            setattr(merged, k, getattr(merged, k)[order])
    twin = emb[obs.entity == 3][: len(rows)]
    all_emb = np.r_[emb, twin][order]
    merged.emb_row = np.arange(len(merged))
    aliases, _ = link(merged, all_emb, reid_prior=0.8)
    assert 3 not in aliases and 4 not in aliases


def test_motion_links_a_short_gap_only_when_unambiguous():
    frames1, frames2 = list(range(1, 21)), list(range(26, 50))
    rows = [(f, 1, 1, b) for f, b in zip(frames1, walker(frames1, 20, 50, 4.0))]
    rows += [(f, 2, 2, b) for f, b in zip(frames2, walker(frames2, 20 + 4.0 * 25, 50, 4.0))]  # on the extrapolated path
    aliases, report = link(observations(rows), None)
    assert aliases == {2: 1} and report.links[0]["by"] == "motion"
    # a second candidate in the gate, seen together with the first: motion cannot choose
    rows += [(f, 3, 3, b) for f, b in zip(frames2, walker(frames2, 20 + 4.0 * 25 + 15, 60, 4.0))]
    aliases, _ = link(observations(rows), None)
    assert aliases == {}
    # too long a gap for motion alone
    late = list(range(80, 100))  # 2.4 s later
    rows = [(f, 1, 1, b) for f, b in zip(frames1, walker(frames1, 20, 50, 4.0))]
    rows += [(f, 2, 2, b) for f, b in zip(late, walker(late, 20 + 4.0 * 79, 50, 4.0))]
    assert link(observations(rows), None)[0] == {}


def test_appearance_breaks_a_motion_tie_only_when_it_separates_the_rivals():
    """Two boxes land in the gate where one object vanished: motion alone cannot choose. When one
    of them looks like the object and the other does not (by more than different objects here
    vary), the link is made (by motion, below the appearance bar); when both look like it, there
    is still no link."""
    rng = np.random.default_rng(2)
    frames1, frames2 = list(range(1, 21)), list(range(26, 50))
    rows = [(f, 1, 1, b) for f, b in zip(frames1, walker(frames1, 20, 50, 4.0))]
    rows += [(f, 2, 2, b) for f, b in zip(frames2, walker(frames2, 20 + 4.0 * 25, 50, 4.0))]
    rows += [(f, 3, 3, b) for f, b in zip(frames2, walker(frames2, 20 + 4.0 * 25 + 15, 60, 4.0))]
    both = frames1 + frames2
    for k in range(4, 10):  # people far away, seen with everyone: the video's different-object pairs
        rows += [(f, k, k, b) for f, b in zip(both, walker(both, 300 + 50 * k, 250 + 20 * k, -1.0))]
    obs = observations(rows, embeddings={})
    looks = {k: unit(rng.normal(size=16)) for k in ["a", "b", *range(4, 10)]}
    looks["a'"] = unit(looks["a"] + 0.8 * unit(rng.normal(size=16)))  # a, seen from another side: below the bar
    background = {k: k for k in range(4, 10)}

    def embed(person: dict, scene: Observations = obs) -> np.ndarray:
        return np.stack([unit(looks[person[int(e)]] + rng.normal(0, 0.15, 16)) for e in scene.entity]).astype(np.float32)

    aliases, report = link(obs, embed({1: "a", 2: "a'", 3: "b", **background}), reid_prior=0.9999)
    assert report.bar_source == "video"  # enough pairs to tell how different objects score
    assert aliases == {2: 1} and report.links[0]["by"] == "motion, appearance chose"
    assert report.links[0]["similarity"] < report.bar  # appearance alone would not have linked
    aliases, _ = link(obs, embed({1: "a", 2: "a'", 3: "a'", **background}), reid_prior=0.9999)  # a look-alike rival
    assert aliases == {}
    assert link(obs, None)[0] == {}  # without embeddings, as before: motion cannot choose
    few = observations([r for r in rows if r[1] <= 4], embeddings={})  # 4 different pairs: no fitted spread, no choice
    assert link(few, embed({1: "a", 2: "a'", 3: "b", 4: 4}, few), reid_prior=0.9999)[0] == {}
    # a backend that cannot tell objects apart (every crop random): it never chooses
    for seed in range(20):
        noise = np.random.default_rng(seed).normal(size=(len(obs), 16))
        aliases, report = link(obs, (noise / np.linalg.norm(noise, axis=1, keepdims=True)).astype(np.float32), reid_prior=0.9999)
        assert not any(link_["by"] == "motion, appearance chose" for link_ in report.links)


def test_bar_comes_from_the_video_once_it_has_evidence():
    rng = np.random.default_rng(0)
    same, different = rng.uniform(0.85, 0.95, 50), rng.uniform(0.3, 0.6, 50)
    bar, margin, source = fit_bar(same, different, prior=0.99)
    assert source == "video" and np.quantile(different, 0.99) < bar < np.quantile(same, 0.05)
    assert margin >= 0.02
    assert fit_bar(same, np.array([]), prior=0.7)[:1] == (0.7,)
    # a backend that cannot tell objects apart (random weights): everything alike, the bar is high
    alike = rng.uniform(0.98, 0.999, 50)
    assert fit_bar(alike, alike, prior=0.5)[0] > 0.98


def test_pass_output_is_sorted_marked_and_keeps_its_sources():
    obs, emb = two_people_scene(second_start=36, back_at=(125, 50))  # a short occlusion
    processed = np.arange(1, 71)
    result = run_pass(obs, emb, OfflineSettings(interpolate_s=0.5, reid_prior=0.8), processed, (processed - 1) / FPS, (640, 480))
    rows = result.rows
    assert result.aliases == {3: 1}
    keys = list(zip(rows.frame.tolist(), rows.entity.tolist()))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # one row per entity per frame
    filled = rows.frame[rows.interpolated & (rows.entity == 1)]
    assert filled.tolist() == list(range(31, 36))  # 0.2 s gap between the linked tracklets
    assert np.isnan(rows.det[rows.interpolated]).all()
    real = rows.source[~rows.interpolated]
    assert sorted(real.tolist()) == list(range(len(obs)))
    assert result.report["linking"]["links"][0]["from"] == 1


def test_backfilled_rows_join_the_output_but_not_the_linking_decision():
    """Track 2 continues track 1 (a short gap on its path); its two tentative rows, written late,
    overlap track 1's last frame. Linking looks at the online rows, so the link is still made;
    the backfilled row that lands on a frame the linked entity already has goes, the other stays."""
    frames1, frames2 = list(range(1, 21)), list(range(23, 50))
    rows = [(f, 1, 1, b) for f, b in zip(frames1, walker(frames1, 20, 50, 4.0))]
    rows += [(f, 2, 2, b) for f, b in zip(frames2, walker(frames2, 20 + 4.0 * 22, 50, 4.0))]
    obs = observations(rows)
    tentative = list(range(20, 23))[:2]  # frames 20 and 21: written when track 2 confirmed at 23
    extra = observations([(f, 2, 2, b) for f, b in zip(tentative, walker(tentative, 20 + 4.0 * 19, 50, 4.0))])
    extra.late[:] = True
    written = Observations(*(np.r_[getattr(obs, k), getattr(extra, k)] if k != "labels" else obs.labels
                             for k in Observations.__dataclass_fields__))
    assert written.late.sum() == 2
    ordered, file_row = written.in_frame_order()
    assert file_row is not None and np.all(np.diff(ordered.frame) >= 0)
    np.testing.assert_array_equal(ordered.frame, written.frame[file_row])
    processed = np.arange(1, 51)
    result = run_pass(ordered, None, OfflineSettings(interpolate_s=0.5), processed, (processed - 1) / FPS, (640, 480))
    assert result.aliases == {2: 1}
    assert result.report["backfilled_rows"] == 1 and result.report["backfill_clashes"] == 1
    rows = result.rows
    keys = list(zip(rows.frame.tolist(), rows.entity.tolist()))
    assert len(set(keys)) == len(keys)  # one row per entity per frame
    assert sorted(rows.frame[rows.entity == 1].tolist()) == list(range(1, 50))  # 21 backfilled, 22 filled
    assert rows.interpolated.sum() == 1
    kept = file_row[rows.source[~rows.interpolated]]  # online rows and backfilled frame 21
    assert sorted(written.frame[kept].tolist()) == sorted(frames1 + frames2 + [21])


def test_late_clashes_keep_the_online_row():
    frame = np.array([5, 5, 5, 6, 6])
    entity = np.array([1, 1, 2, 1, 1])
    late = np.array([True, False, True, True, True])
    assert late_clashes(frame, entity, late).tolist() == [True, False, False, False, True]
    assert not late_clashes(frame, entity, np.zeros(5, bool)).any()


def test_pass_with_everything_off_is_the_online_result():
    obs, emb = two_people_scene(second_start=50)
    processed = np.arange(1, 71)
    settings = OfflineSettings(smooth=False, interpolate_s=0.0, link=False)
    rows = run_pass(obs, emb, settings, processed, (processed - 1) / FPS).rows
    order = np.lexsort((obs.entity, obs.frame))
    np.testing.assert_array_equal(rows.box, obs.box[order])
    np.testing.assert_array_equal(rows.entity, obs.entity[order])


# ---- the engine: the pass at commit, every output file agrees ---------------------------------


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from orion_core.synthetic import make_scene

    return make_scene(tmp_path_factory.mktemp("scene"), frames=90, det_dropout=0.15)


def run_scene(scene, out, **sections):
    from orion_core.config import build_config
    from orion_core.engine import PerceptionEngine

    settings = {
        "detection": {"detector": "mot", "detections": str(scene.det_path)},
        "embedding": {"backend": "histogram", "device": "cpu"},
        "output": {"out_dir": str(out), "episode": "ep"},
    }
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    return PerceptionEngine(build_config(overrides=settings)).process_video(scene.video_path)


def test_every_output_file_agrees_after_the_pass(scene, tmp_path):
    result = run_scene(scene, tmp_path, output={"save_video": True})
    folder = result.path
    txt = (folder / "tracks.txt").read_text().splitlines()
    jsonl = [json.loads(line) for line in (folder / "tracks.jsonl").read_text().splitlines()]
    emb = np.load(folder / "embeddings.npy")
    filled = [r for r in jsonl if r.get("interpolated")]
    assert filled and result.counts["interpolated"] == len(filled)
    assert len(txt) == len(jsonl) == len(emb) == result.counts["rows"]
    assert result.counts["rows"] == (result.counts["observations"] + result.counts["backfilled"] - result.counts["dropped_rows"]
                                     + len(filled))
    for i, (line, record) in enumerate(zip(txt, jsonl)):
        frame, entity, x, y, w, h = (float(v) for v in line.split(",")[:6])
        assert (int(frame), int(entity)) == (record["frame"], record["entity_id"])
        np.testing.assert_allclose([x, y, x + w, y + h], record["bbox_xyxy"], atol=0.02)
        if record.get("interpolated"):
            assert record["embedding_row"] is None and record["det_xyxy"] is None and np.isnan(emb[i]).all()
        elif record["embedding_row"] is not None:
            assert record["embedding_row"] == i and np.linalg.norm(emb[i]) == pytest.approx(1.0, abs=1e-5)
    frames = [r["frame"] for r in jsonl]
    assert frames == sorted(frames)
    memory = json.loads((folder / "memory.json").read_text())["entities"]
    assert sorted(e["id"] for e in memory) == sorted({r["entity_id"] for r in jsonl})
    assert sum(e["observations"] + e["interpolated"] for e in memory) == len(jsonl)
    for entity in memory:
        assert (folder / entity["thumbnail"]).is_file()
        mine = [r for r in jsonl if r["entity_id"] == entity["id"]]
        assert (entity["first_frame"], entity["last_frame"]) == (mine[0]["frame"], mine[-1]["frame"])
        assert sorted({r["track_id"] for r in mine}) == sorted(entity["track_ids"])
        if entity["prototype_row"] is not None:
            assert jsonl[entity["prototype_row"]]["entity_id"] == entity["id"]
    assert sorted(p.name for p in (folder / "thumbnails").iterdir()) == sorted(f"{e['id']}.jpg" for e in memory)
    run = json.loads((folder / "run.json").read_text())
    assert run["offline"]["enabled"] and "linking" in run["offline"] and "annotate" in run["timings_s"]
    from orion_core.video import open_video

    with open_video(folder / "annotated.mp4") as video:
        assert sum(1 for _ in video) == scene.frames


def test_online_keeps_the_online_rows_with_filtered_boxes(scene, tmp_path):
    result = run_scene(scene, tmp_path, tracking={"offline": False})
    jsonl = [json.loads(line) for line in (result.path / "tracks.jsonl").read_text().splitlines()]
    assert len(jsonl) == result.counts["observations"] and not any(r.get("interpolated") for r in jsonl)
    moved = [r for r in jsonl if r["bbox_xyxy"] != r["det_xyxy"]]
    assert moved  # reported boxes are the filter's state, the detection is kept beside it
    run = json.loads((result.path / "run.json").read_text())
    assert run["offline"]["enabled"] is False
    raw = run_scene(scene, tmp_path / "raw", tracking={"offline": False, "report_state": False})
    jsonl = [json.loads(line) for line in (raw.path / "tracks.jsonl").read_text().splitlines()]
    assert all(r["bbox_xyxy"] == r["det_xyxy"] for r in jsonl)


def test_background_clutter_is_left_out_of_every_output_file(tmp_path):
    """A walker plus two background spots the detector fires on 30% of the frames: the online result
    reports the spots once 3 hits in a row confirm them; after the pass no output file knows them."""
    from orion_core.synthetic import DetectorFaults, TrackBox, replay_scene

    tracks = [TrackBox(f, 1, 20 + 1.5 * f, 40.0, 40.0, 100.0) for f in range(1, 151)]
    info = replay_scene(tmp_path / "scene", tracks, (400, 240), fps=25.0, seed=1, lookalikes=0,
                        det_false_positives=0.0, det_faults=DetectorFaults(clutter=2))
    online = run_scene(info, tmp_path / "online", tracking={"offline": False, "appearance": False})
    ids = {json.loads(line)["entity_id"] for line in (online.path / "tracks.jsonl").read_text().splitlines()}
    assert len(ids) == 3  # the walker and both spots
    result = run_scene(info, tmp_path / "final", output={"save_video": True})  # histogram: memory counts too
    folder = result.path
    run = json.loads((folder / "run.json").read_text())
    dropped = run["offline"]["dropped_entities"]
    assert len(dropped) == 2 and result.counts["dropped_rows"] == run["offline"]["dropped_rows"] > 0
    jsonl = [json.loads(line) for line in (folder / "tracks.jsonl").read_text().splitlines()]
    assert {r["entity_id"] for r in jsonl} == {1} == {int(line.split(",")[1]) for line in (folder / "tracks.txt").read_text().splitlines()}
    assert [e["id"] for e in json.loads((folder / "memory.json").read_text())["entities"]] == [1]
    assert sorted(p.name for p in (folder / "thumbnails").iterdir()) == ["1.jpg"]
    assert result.counts["entities"] == 1 and result.counts["dropped_entities"] == 2
    memory = run["tracker"]["memory"]["entities"]
    assert result.counts["entities"] + result.counts["merged_entities"] + result.counts["dropped_entities"] == memory


def test_thumbnail_quality_prefers_whole_uncovered_views():
    from orion_core.engine import view_quality

    size = (640, 480)
    clear = view_quality(np.array([100, 100, 160, 250]), 0.9, 0.0, size)
    covered = view_quality(np.array([100, 100, 160, 250]), 0.9, 0.5, size)
    cut = view_quality(np.array([0, 100, 60, 250]), 0.9, 0.0, size)
    bigger_but_half_covered = view_quality(np.array([100, 100, 180, 300]), 0.9, 0.5, size)
    assert clear > covered and clear > cut and clear > bigger_but_half_covered
    assert view_quality(np.array([100, 100, 180, 300]), 0.9, 0.0, size) > clear  # larger wins when clear


def test_cli_online_flag_turns_the_pass_off(scene, tmp_path, capsys):
    from orion_core.cli import main

    main(["run", str(scene.video_path), "--detections", str(scene.det_path), "--backend", "histogram", "--online",
          "--out", str(tmp_path), "--episode", "cli", "--max-frames", "40"])
    run = json.loads((tmp_path / "cli" / "run.json").read_text())
    assert run["config"]["tracking"]["offline"] is False and run["offline"]["enabled"] is False
    assert run["counts"]["interpolated"] == 0 and "offline" not in run["timings_s"]


def test_bad_offline_settings_name_the_key():
    from orion_core.config import build_config
    from orion_core.errors import ConfigError

    with pytest.raises(ConfigError, match="tracking.offline_interpolate_s must be a number of seconds >= 0"):
        build_config(overrides={"embedding": {"backend": "histogram"}, "tracking": {"offline_interpolate_s": -1}})
    with pytest.raises(ConfigError, match="tracking.offline_interpolate_min_run must be a whole number"):
        build_config(overrides={"embedding": {"backend": "histogram"}, "tracking": {"offline_interpolate_min_run": -1}})
    for bad in (2.5, True, "8"):
        with pytest.raises(ConfigError, match="offline_interpolate_min_run"):
            build_config(overrides={"embedding": {"backend": "histogram"}, "tracking": {"offline_interpolate_min_run": bad}})
    assert build_config(overrides={"embedding": {"backend": "histogram"},
                                   "tracking": {"offline_interpolate_min_run": 0}}).tracking.offline_interpolate_min_run == 0


def test_gap_filling_uses_only_the_frames_a_sampled_run_processed(scene, tmp_path):
    result = run_scene(scene, tmp_path, video={"fps": 5.0})  # the scene is 15 fps: every third frame
    jsonl = [json.loads(line) for line in (result.path / "tracks.jsonl").read_text().splitlines()]
    processed = set(range(1, scene.frames + 1, 3))
    assert {r["frame"] for r in jsonl} <= processed
    assert any(r.get("interpolated") for r in jsonl)
    late = [r for r in jsonl if r.get("backfilled")]  # a tentative start: processed frames, their own times
    assert late and all(abs(r["time_s"] - (r["frame"] - 1) / scene.fps) < 1e-3 for r in late)


def test_the_pass_adds_each_tracks_tentative_detections_before_its_first_online_row(scene, tmp_path):
    """min_hits = 3: a track confirmed after the video's first frames starts two frames earlier in
    the output than online; the rows added are detections of det.txt at their frames."""
    on = run_scene(scene, tmp_path / "on")
    off = run_scene(scene, tmp_path / "off", tracking={"offline_backfill": False})
    assert on.counts["backfilled"] > 0 and off.counts["backfilled"] == 0
    assert json.loads((on.path / "run.json").read_text())["offline"]["backfill"] is True

    def starts(result) -> dict[int, int]:
        first: dict[int, int] = {}
        for line in (result.path / "tracks.jsonl").read_text().splitlines():
            r = json.loads(line)
            if not r.get("interpolated"):
                first[r["track_id"]] = min(first.get(r["track_id"], r["frame"]), r["frame"])
        return first

    start_on, start_off = starts(on), starts(off)
    earlier = [t for t in start_off if start_on.get(t) == start_off[t] - 2]
    assert earlier and 2 * len(earlier) <= on.counts["backfilled"]
    assert all(start_on.get(t, 0) <= start_off[t] for t in start_off)
    dets: dict[int, set] = {}
    for line in scene.det_path.read_text().splitlines():
        f, _, x, y, w, h = (float(v) for v in line.split(",")[:6])
        dets.setdefault(int(f), set()).add(tuple(round(v, 1) for v in (x, y, x + w, y + h)))
    marked = embedded = 0
    for line in (on.path / "tracks.jsonl").read_text().splitlines():
        r = json.loads(line)
        if not r.get("interpolated"):
            assert tuple(round(v, 1) for v in r["det_xyxy"]) in dets[r["frame"]]
        if r.get("backfilled"):
            marked += 1
            embedded += r["embedding_row"] is not None
    assert marked == on.counts["backfilled"] and embedded  # the detection's embedding, where it had one
