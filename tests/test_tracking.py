"""Online tracker on synthetic scenes: boxes, scores and embeddings made here, no video."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from orion_core.config import ConfigError, TrackingConfig
from orion_core.tracking import Tracker, assign, iou_matrix, kalman
from orion_core.tracking import calibration as cal
from orion_core.tracking.gallery import EmbeddingRing
from orion_core.types import Detections

DIM = 64


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


def box_at(cx: float, cy: float, w: float = 40.0, h: float = 80.0) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@dataclass
class Obj:
    """A synthetic object: where it is at each frame (None = not detected), and what it looks like."""

    name: str
    box: Callable[[int], tuple | None]
    embedding: np.ndarray | None = None
    label: str = "person"
    score: Callable[[int], float] = lambda f: 0.9
    has_embedding: Callable[[int], bool] = lambda f: True
    seen: dict = field(default_factory=dict)  # frame -> (entity_id, track_id)


def run(tracker: Tracker, objects: list[Obj], frames, embeddings: bool = True, noise: float = 0.02, seed: int = 0) -> list[Obj]:
    """Feed the scene (detections in shuffled order) and record which ids each object got."""
    rng = np.random.default_rng(seed)
    for frame in frames:
        present = [(o, o.box(frame)) for o in objects if o.box(frame) is not None]
        order = rng.permutation(len(present))
        present = [present[i] for i in order]
        dets = Detections(
            np.array([b for _, b in present], np.float32).reshape(-1, 4),
            np.array([o.score(frame) for o, _ in present], np.float32),
            [o.label for o, _ in present],
        )
        emb = has = None
        if embeddings:
            emb = np.zeros((len(present), DIM), np.float32)
            has = np.zeros(len(present), bool)
            for i, (o, _) in enumerate(present):
                if o.embedding is not None and o.has_embedding(frame):
                    v = o.embedding + rng.normal(0, noise, DIM)
                    emb[i], has[i] = v / np.linalg.norm(v), True
        for tracked in tracker.update(frame, dets, emb, has):
            obj = present[tracked.det_index][0]
            assert tracked.label == obj.label
            np.testing.assert_allclose(tracked.box, present[tracked.det_index][1], atol=1e-3)
            obj.seen[frame] = (tracked.entity_id, tracked.track_id)
    return objects


def ids(obj: Obj, frames=None) -> list[int]:
    return [obj.seen[f][0] for f in sorted(obj.seen) if frames is None or f in frames]


# ---- building blocks --------------------------------------------------------------------


def test_iou_matrix_values():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 60, 60]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0], [0.0, 0.0, 0.0]])


def test_assign_only_returns_allowed_pairs():
    cost = np.array([[0.1, 0.9], [0.2, 0.3]])
    allowed = np.array([[True, False], [True, False]])
    rows, cols = assign(cost, allowed)
    assert list(zip(rows, cols)) == [(0, 0)]  # row 1 may only take column 0, which row 0 wants more


def test_kalman_learns_constant_velocity_and_scales_with_frame_gap():
    mean, cov = kalman.initiate(np.array([box_at(100, 200)]))
    for step in range(1, 15):
        mean, cov = kalman.predict(mean, cov, 1.0)
        mean, cov = kalman.update(mean, cov, np.array([box_at(100 + 5 * step, 200)]))
    assert mean[0, 4] == pytest.approx(5.0, abs=0.3)  # vx in pixels per frame
    ahead, _ = kalman.predict(mean, cov, 3.0)
    assert kalman.state_to_xyxy(ahead)[0, 0] == pytest.approx(box_at(100 + 5 * 17, 200)[0], abs=1.5)


def test_kalman_process_noise_is_the_same_per_second_at_every_frame_rate():
    """A walker moves as erratically per second whatever the camera's rate: the noise a second of
    frames adds (position in pixels, velocity in pixels per second) must not depend on the rate."""
    scale = np.array([[40.0, 100.0, 40.0, 100.0]])
    per_second = []
    for fps in (7.0, kalman.NOISE_FPS, 25.0, 50.0):
        var = kalman.process_std(scale, kalman.noise_rate(1.0 / fps)) ** 2
        per_second.append(np.r_[var[0, :4] * fps, var[0, 4:] * fps**2 * fps])  # px/frame -> px/s: x fps^2
    np.testing.assert_allclose(per_second, np.repeat(per_second[1][None], 4, axis=0), rtol=1e-12)
    assert kalman.noise_rate(1.0 / kalman.NOISE_FPS) == 1.0  # the constants hold as written at NOISE_FPS
    assert kalman.noise_rate(0.04, noise_fps=0) == kalman.noise_rate(None) == 1.0  # per frame, the old way
    # and the prior on a new track's velocity is the same in pixels per second
    _, slow = kalman.initiate(np.array([box_at(100, 200)]), kalman.noise_rate(1 / 10.0))
    _, fast = kalman.initiate(np.array([box_at(100, 200)]), kalman.noise_rate(1 / 25.0))
    assert np.sqrt(slow[0, 4, 4]) * 10.0 == pytest.approx(np.sqrt(fast[0, 4, 4]) * 25.0)


def test_a_tracker_and_its_offline_smoother_use_the_videos_noise_rate():
    from orion_core.tracking.offline import OfflineSettings

    assert Tracker(TrackingConfig(), fps=25.0).stats["kalman_noise_rate"] == pytest.approx(0.4)  # run.json shows it
    assert Tracker(TrackingConfig(kalman_noise_fps=0), fps=25.0)._noise_rate == 1.0
    assert OfflineSettings.from_config(TrackingConfig(kalman_noise_fps=7.0), 0.8).noise_fps == 7.0
    with pytest.raises(ConfigError, match="kalman_noise_fps"):
        TrackingConfig(kalman_noise_fps=-1)


def test_kalman_update_equals_the_textbook_gain_with_and_without_a_camera_warp():
    """The update divides by S's diagonal while the axes are independent, and solves once a warp
    (rotation) couples them: both must equal K = P H^T S^-1 computed the long way."""
    from orion_core.tracking.cmc import warp_states

    rng = np.random.default_rng(0)
    boxes = np.array([box_at(100 + 30 * k, 200, 20 + 5 * k, 60 + 10 * k) for k in range(6)])
    H = np.eye(4, 8)

    def textbook(mean, cov, measured):
        out_mean, out_cov = mean.copy(), cov.copy()
        z = kalman.xyxy_to_cxcywh(measured)
        for i in range(len(mean)):
            w, h = max(mean[i, 2], 1.0), max(mean[i, 3], 1.0)
            R = np.diag((kalman.POSITION_NOISE * np.array([w, h, w, h])) ** 2)
            S = H @ cov[i] @ H.T + R
            K = cov[i] @ H.T @ np.linalg.inv(S)
            out_mean[i] = mean[i] + K @ (z[i] - H @ mean[i])
            out_cov[i] = (np.eye(8) - K @ H) @ cov[i]
        return out_mean, out_cov

    for warp in (None, np.array([[0.99, 0.05, 4.0], [-0.05, 0.99, -3.0]])):
        mean, cov = kalman.initiate(boxes)
        for step in range(5):
            mean, cov = kalman.predict(mean, cov, 1.0)
            if warp is not None and step == 1:
                mean, cov = warp_states(mean, cov, warp)
            measured = boxes + rng.normal(0, 2, boxes.shape)
            expected = textbook(mean, cov, measured)
            mean, cov = kalman.update(mean, cov, measured)
            np.testing.assert_allclose(mean, expected[0], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(cov, expected[1], rtol=1e-9, atol=1e-9)
        coupled = np.abs(cov[:, 0, 1]).max() > 1e-6  # x and y covariance: only a rotation makes it
        assert coupled == (warp is not None)


def test_embedding_ring_is_bounded_and_keeps_the_newest():
    ring = EmbeddingRing(4, 2)
    for i in range(10):
        ring.add(np.array([i, 1.0]))
    assert ring.count == 4
    assert sorted(ring.filled()[:, 0]) == [6, 7, 8, 9]


# ---- association ------------------------------------------------------------------------


def test_straight_line_movers_keep_one_id_each():
    objects = [
        Obj("a", lambda f: box_at(50 + 6 * f, 100), unit(1)),
        Obj("b", lambda f: box_at(600 - 4 * f, 250), unit(2)),
        Obj("c", lambda f: box_at(300, 50 + 5 * f), unit(3)),
    ]
    run(Tracker(TrackingConfig()), objects, range(60))
    for obj in objects:
        assert len(obj.seen) == 60  # reported from frame 0: the first min_hits frames confirm at once
        assert len(set(ids(obj))) == 1
    assert len({ids(o)[0] for o in objects}) == 3


def test_new_track_is_reported_from_its_min_hits_th_observation():
    late = Obj("late", lambda f: box_at(300, 300) if f >= 10 else None, unit(4))
    run(Tracker(TrackingConfig(min_hits=3)), [Obj("early", lambda f: box_at(50 + f, 50), unit(5)), late], range(20))
    assert min(late.seen) == 12
    assert sorted(late.seen) == list(range(12, 20))


def test_a_confirmed_tracks_tentative_observations_are_handed_to_the_offline_pass():
    """The first min_hits - 1 observations of a track are not reported online; at confirmation
    `take_backfill` returns them under the confirmed ids, once. A track that never confirms and
    the tracks confirmed at once early in the video hand back nothing; without the pass, nothing."""
    for offline in (True, False):
        late = Obj("late", lambda f: box_at(300 + 2 * f, 300) if f >= 10 else None, unit(4))
        blip = Obj("blip", lambda f: box_at(600, 100) if f in (5, 6) else None, unit(6))  # two frames: never confirmed
        tracker = Tracker(TrackingConfig(min_hits=3, offline=offline))
        handed = []
        update = tracker.update

        def update_and_take(frame, *args, **kwargs):
            out = update(frame, *args, **kwargs)
            handed.extend((frame, f, obj, vector) for f, obj, vector in tracker.take_backfill())
            return out

        tracker.update = update_and_take
        run(tracker, [Obj("early", lambda f: box_at(50 + f, 50), unit(5)), late, blip], range(20))
        assert min(late.seen) == 12
        if not offline:
            assert handed == []
            continue
        assert [(at, f) for at, f, _, _ in handed] == [(12, 10), (12, 11)]
        for _, f, obj, vector in handed:
            assert vector.shape == (DIM,) and abs(vector @ late.embedding) > 0.9  # the row update was given
            assert (obj.entity_id, obj.track_id) == late.seen[12]
            np.testing.assert_allclose(obj.box, box_at(300 + 2 * f, 300), atol=1e-3)  # the detection
            assert obj.state_box is not None and np.abs(obj.state_box - obj.box).max() < 5.0  # the filter's state
        assert tracker.take_backfill() == []
        # not taken: the next update forgets them (a caller of update alone holds nothing)
        quiet = Tracker(TrackingConfig(min_hits=3))
        run(quiet, [Obj("early", lambda f: box_at(50 + f, 50), unit(5)), late], range(13))
        assert [item.frame_index for item in quiet.take_backfill()] == [10, 11]
        run(quiet, [late], range(13, 14))
        assert quiet.take_backfill() == []


def bouncing_pair() -> list[Obj]:
    """Two objects walk towards each other, meet (same box) at frame 15 and turn back."""

    def path(start: float, speed: float) -> Callable[[int], tuple]:
        return lambda f: box_at(start + speed * (f if f <= 15 else 30 - f), 200)

    return [Obj("left", path(100, 10), unit(10)), Obj("right", path(400, -10), unit(11))]


def test_appearance_keeps_identities_when_objects_meet_and_turn_back():
    objects = run(Tracker(TrackingConfig()), bouncing_pair(), range(31))
    left, right = objects
    # Both are one box at frame 15; what matters is who is who on either side of it.
    assert set(ids(left, range(15))) == set(ids(left, range(16, 31))) and len(set(ids(left))) == 1
    assert set(ids(right, range(15))) == set(ids(right, range(16, 31))) and len(set(ids(right))) == 1
    assert ids(left)[0] != ids(right)[0]


def test_motion_only_swaps_identities_when_objects_turn_back():
    """Observed behaviour: a constant-velocity model follows each track straight through the
    meeting point, so after the turn each id lands on the other object."""
    objects = run(Tracker(TrackingConfig(appearance=False)), bouncing_pair(), range(31), embeddings=False)
    left, right = objects
    assert ids(left, range(10))[0] == ids(right, range(20, 31))[-1]
    assert ids(right, range(10))[0] == ids(left, range(20, 31))[-1]


def test_straight_crossing_keeps_ids_with_and_without_appearance():
    def make() -> list[Obj]:
        return [Obj("a", lambda f: box_at(100 + 10 * f, 200), unit(20)), Obj("b", lambda f: box_at(400 - 10 * f, 200), unit(21))]

    for config, embeddings in ((TrackingConfig(), True), (TrackingConfig(appearance=False), False)):
        a, b = run(Tracker(config), make(), range(31), embeddings=embeddings)
        assert len(set(ids(a, range(12)) + ids(a, range(19, 31)))) == 1
        assert len(set(ids(b, range(12)) + ids(b, range(19, 31)))) == 1
        assert ids(a)[0] != ids(b)[0]


def test_classes_are_never_matched_to_each_other():
    person = Obj("person", lambda f: box_at(200 + 2 * f, 200) if f < 10 else None, unit(30), label="person")
    car = Obj("car", lambda f: box_at(200 + 2 * f, 200) if f >= 10 else None, unit(30), label="car")
    run(Tracker(TrackingConfig()), [person, car], range(20))
    assert set(ids(person)).isdisjoint(ids(car))
    # Same scene with the class gate off: the car continues the person's track.
    person2 = Obj("person", person.box, unit(30), label="person")
    car2 = Obj("car", car.box, unit(30), label="car")
    run(Tracker(TrackingConfig(per_class=False)), [person2, car2], range(20))
    assert set(ids(person2)) == set(ids(car2))


def test_low_score_detections_continue_a_track_through_the_second_pass():
    def score(f: int) -> float:
        return 0.3 if 10 <= f < 15 else 0.9

    obj = Obj("occluded", lambda f: box_at(100 + 5 * f, 100), unit(40), score=score)
    tracker = Tracker(TrackingConfig())
    run(tracker, [obj], range(25))
    assert sorted(obj.seen) == list(range(25))  # reported during the low-score frames too
    assert len(set(ids(obj))) == 1
    assert tracker.stats["second_pass_matches"] == 5


def test_low_score_detections_alone_never_start_a_track():
    obj = Obj("faint", lambda f: box_at(100, 100), unit(41), score=lambda f: 0.3)
    tracker = Tracker(TrackingConfig())
    run(tracker, [obj], range(10))
    assert obj.seen == {} and tracker.stats["tracks_started"] == 0


def test_detections_without_embeddings_are_matched_by_motion():
    obj = Obj("masked", lambda f: box_at(100 + 5 * f, 100), unit(42), has_embedding=lambda f: f % 3 != 0)
    run(Tracker(TrackingConfig()), [obj], range(30))
    assert len(obj.seen) == 30 and len(set(ids(obj))) == 1
    # No embeddings at all also works.
    obj2 = Obj("plain", obj.box, None)
    run(Tracker(TrackingConfig()), [obj2], range(30))
    assert len(obj2.seen) == 30 and len(set(ids(obj2))) == 1


def drifting_occlusion() -> Obj:
    """Moves right at 8 px/frame, hidden frames 15-22 during which it stops; the Kalman
    prediction runs ~60 px ahead (no IoU with the real box) when it reappears at frame 23."""
    return Obj("hidden", lambda f: None if 15 <= f < 23 else box_at(100 + 8 * min(f, 15), 200), unit(50))


def test_lost_track_is_recovered_by_appearance_after_its_prediction_drifted():
    tracker = Tracker(TrackingConfig(max_age=30))
    (obj,) = run(tracker, [drifting_occlusion()], range(35))
    assert len({track for _, track in obj.seen.values()}) == 1
    assert tracker.stats["recovered_by_appearance"] >= 1
    assert min(f for f in obj.seen if f >= 23) == 23  # reported on reappearance, no re-confirmation


def test_without_appearance_the_drifted_track_is_lost():
    tracker = Tracker(TrackingConfig(appearance=False, max_age=30))
    (obj,) = run(tracker, [drifting_occlusion()], range(35), embeddings=False)
    assert len(set(ids(obj))) == 2
    assert tracker.stats["recovered_by_appearance"] == 0


def test_frame_gaps_from_sampling_use_frame_index_differences():
    # Every 3rd frame: the mover still keeps its id (velocity is per video frame).
    obj = Obj("sampled", lambda f: box_at(100 + 4 * f, 100), unit(60))
    run(Tracker(TrackingConfig()), [obj], range(0, 90, 3))
    assert len(obj.seen) == 30 and len(set(ids(obj))) == 1

    # max_age counts video frames: 12 frames unseen outlive max_age=10 but not max_age=15.
    def box(f: int) -> tuple | None:
        return None if 20 < f < 33 else box_at(300, 300)

    for max_age, expected in ((10, 2), (15, 1)):
        still = Obj("still", box, unit(61))
        other = Obj("other", lambda f: box_at(50, 50 + f), unit(62))
        run(Tracker(TrackingConfig(max_age=max_age)), [other, still], range(45))
        assert len({t for _, t in still.seen.values()}) == expected


def test_without_memory_entity_id_is_the_track_id_and_ids_are_compact():
    objects = [Obj(str(i), lambda f, i=i: box_at(60 + 80 * i, 100 + 3 * f), unit(70 + i)) for i in range(5)]
    run(Tracker(TrackingConfig()), objects, range(20))
    assert sorted(ids(o)[0] for o in objects) == [1, 2, 3, 4, 5]
    assert all(e == t for o in objects for e, t in o.seen.values())


def test_stats_and_finish():
    tracker = Tracker(TrackingConfig(min_hits=3))
    a = Obj("a", lambda f: box_at(100 + f, 100), unit(80))
    blip = Obj("blip", lambda f: box_at(400, 400) if f == 10 else None, unit(81))
    run(tracker, [a, blip], range(20))
    stats = tracker.stats
    assert stats["frames"] == 20 and stats["detections"] == 21
    assert stats["tracks_started"] == 2 and stats["tracks_confirmed"] == 1  # the blip never confirms
    assert stats["active_tracks"] == 1 and stats["tentative_tracks"] == 0
    tracker.finish()
    assert tracker.stats["tracks_ended"] == 1 and tracker.stats["active_tracks"] == 0


def test_bad_inputs_raise_clear_errors():
    tracker = Tracker(TrackingConfig())
    dets = Detections(np.array([box_at(10, 10)], np.float32), np.array([0.9], np.float32), ["person"])
    tracker.update(5, dets, None, None)
    with pytest.raises(ValueError, match="does not follow 5"):
        tracker.update(5, dets, None, None)
    with pytest.raises(ValueError, match="does not match 1 detections"):
        tracker.update(6, dets, np.zeros((2, DIM), np.float32), None)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"min_hits": 0}, "tracking.min_hits"),
        ({"low_score": 0.8, "high_score": 0.5}, "tracking.low_score"),
        ({"appearance_weight": 1.5}, "tracking.appearance_weight"),
    ],
)
def test_tracking_config_rejects_bad_values_naming_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        TrackingConfig(**kwargs)


# ---- issue 10: review items ---------------------------------------------------------------


def test_memory_does_not_change_online_tracking():
    """Item 3: the recovery bar comes from the tracker's own calibration, with or without memory."""
    from orion_core.config import MemoryConfig
    from orion_core.tracking import EntityMemory

    def scene() -> list[Obj]:
        hidden = lambda f: None if 15 <= f < 23 else box_at(100 + 8 * min(f, 15), 200)  # noqa: E731
        return [
            Obj("hidden", hidden, unit(50)),
            *[Obj(str(i), lambda f, i=i: box_at(80 + 70 * i, 350 + 2 * f), unit(90 + i)) for i in range(5)],
        ]

    with_memory = run(Tracker(TrackingConfig(), memory=EntityMemory(MemoryConfig(), reid_threshold=0.9)), scene(), range(80))
    without = run(Tracker(TrackingConfig(), reid_threshold=0.9), scene(), range(80))
    for a, b in zip(with_memory, without):
        assert {f: t for f, (_, t) in a.seen.items()} == {f: t for f, (_, t) in b.seen.items()}


def test_covered_crops_do_not_feed_galleries():
    """Item 4: a box mostly covered by another one shows the occluder; it must not teach the track."""
    front = Obj("front", lambda f: box_at(200, 200), unit(1))
    behind = Obj("behind", lambda f: box_at(300 - 4 * min(f, 20), 200), unit(2))  # slides behind `front`
    tracker = Tracker(TrackingConfig(gallery_max_overlap=0.25))
    run(tracker, [front, behind], range(30))
    # Equal boxes 100 - 4f px apart overlap each other by more than 25% from f = 18 on: both
    # crops of each of those 12 frames stay out of every gallery.
    assert tracker.stats["covered_crops_not_learned"] == 24
    everything = Tracker(TrackingConfig(gallery_max_overlap=1.0))
    run(everything, [Obj("front", front.box, unit(1)), Obj("behind", behind.box, unit(2))], range(30))
    assert everything.stats["covered_crops_not_learned"] == 0


def test_crops_covered_by_another_track_do_not_feed_galleries():
    """A box drawn around two people (a merged detection) has no second detection beside it to
    reveal the overlap; the other person's track, lost meanwhile, still predicts where they are."""
    merged = (180.0, 160.0, 280.0, 240.0)  # around both: a spans x 180-220, b spans 240-280

    def scene() -> list[Obj]:
        a = Obj("a", lambda f: merged if 10 <= f < 15 else box_at(200, 200), unit(1))
        b = Obj("b", lambda f: None if 10 <= f < 15 else box_at(260, 200), unit(2))
        return [a, b]

    def gallery_count(tracker: Tracker, obj: Obj) -> int:
        (track,) = [t for t in tracker._tracks if t.track_id == obj.seen[19][1]]
        return track.gallery.count

    on = Tracker(TrackingConfig(cover_by_tracks=True, gallery_size=32))
    a, b = run(on, scene(), range(20))
    assert all(a.seen[f][1] == a.seen[0][1] for f in range(20)) and b.seen[19][1] == b.seen[0][1]
    # b's predicted box is 40% of the merged box's area: those 5 crops stay out of a's gallery; so
    # do b's first two crops back (frames 15-16), which a's state, still nearly as wide as the
    # merged box, covers (at DEFAULT_FPS the filter takes two frames to shrink back)
    assert on.stats["track_covered_crops_not_learned"] == 7 and on.stats["covered_crops_not_learned"] == 0
    assert gallery_count(on, a) == 15
    off = Tracker(TrackingConfig(cover_by_tracks=False, gallery_size=32))
    a, _ = run(off, scene(), range(20))
    assert off.stats["track_covered_crops_not_learned"] == 0 and gallery_count(off, a) == 20


def test_recovery_gate_grows_with_the_time_lost():
    """Item 7: far from where it vanished is plausible after a long absence, not after a short one."""

    def jump(gap: int) -> Obj:
        # Still at x=100 until frame 10, hidden for `gap` frames, back 4 box widths (160 px) away.
        return Obj("jumper", lambda f: None if 10 <= f < 10 + gap else box_at(100 if f < 10 else 260, 200), unit(5))

    config = TrackingConfig(max_age=60, recovery_radius=1.0, recovery_growth=1.0)
    short, long = Tracker(config, fps=10), Tracker(config, fps=10)
    (a,) = run(short, [jump(3)], range(30))  # 0.3 s lost: gate 1.3 sides (104 px at side 80)
    (b,) = run(long, [jump(30)], range(60))  # 3 s lost: gate 4 sides (320 px)
    assert len({t for _, t in a.seen.values()}) == 2 and short.stats["recovered_by_appearance"] == 0
    assert len({t for _, t in b.seen.values()}) == 1 and long.stats["recovered_by_appearance"] == 1


def test_default_recovery_gate_does_not_jump_to_a_look_alike_after_a_short_loss():
    """A lost track's second chance must stay where a walker can be: with the defaults, a person
    hidden for 0.2 s at 25 fps is not recovered onto an identical-looking detection two heights
    away (the old fixed gate of 3 sides allowed it: TUD-Campus replays), yet still is when the
    detection comes back half a side from where the track was lost."""

    def hidden_then_back(dx: float) -> Obj:
        # Still at x=300 until frame 10, hidden 5 frames (0.2 s), back `dx` px away (side = height 80).
        return Obj("walker", lambda f: None if 10 <= f < 15 else box_at(300 if f < 10 else 300 + dx, 200), unit(5))

    far, near = Tracker(TrackingConfig(), fps=25), Tracker(TrackingConfig(), fps=25)
    (a,) = run(far, [hidden_then_back(160.0)], range(30))  # 2 heights: gate is (1 + 0.2) sides = 96 px
    (b,) = run(near, [hidden_then_back(40.0)], range(30))  # half a side
    assert far.stats["recovered_by_appearance"] == 0 and len({t for _, t in a.seen.values()}) == 2
    assert near.stats["recovered_by_appearance"] == 1 and len({t for _, t in b.seen.values()}) == 1
    old = Tracker(TrackingConfig(recovery_radius=3.0), fps=25)
    run(old, [hidden_then_back(160.0)], range(30))
    assert old.stats["recovered_by_appearance"] == 1  # what the old default did


def test_a_lost_track_is_not_recovered_onto_an_object_seen_beside_it_that_looks_as_much_like_it():
    """A lost track's recovery must beat the track's own confuser: the best match a crop of another
    object, seen in the same frames, found in its gallery. The pooled bar (here the prior, 0.75)
    lets a look-alike at ~0.8 through; the video already showed that twin beside the track."""
    a_look = unit(5)
    rest = unit(6) - (unit(6) @ a_look) * a_look
    twin_look = 0.82 * a_look + np.sqrt(1 - 0.82**2) * rest / np.linalg.norm(rest)  # cosine 0.82 to A

    def scene(back_look: np.ndarray) -> tuple[Obj, Obj, Obj]:
        a = Obj("a", lambda f: box_at(100, 200) if f < 40 else None, a_look)  # stands still, hidden from 40
        twin = Obj("twin", lambda f: box_at(300, 200) if f < 40 else None, twin_look)  # beside it until 40
        # At frame 45 someone appears half a side from where A was lost (inside its recovery gate, out
        # of the twin's): A itself, or the twin.
        back = Obj("back", lambda f: box_at(140, 200) if f >= 45 else None, back_look)
        return a, twin, back

    def recovered(back_look: np.ndarray, confusers: bool) -> tuple[bool, Tracker]:
        tracker = Tracker(TrackingConfig(recovery_confusers=confusers), fps=25)
        a, _, back = run(tracker, list(scene(back_look)), range(60))
        return back.seen[min(back.seen)][1] == a.seen[39][1], tracker

    wrong, without = recovered(twin_look, confusers=False)
    # the pooled bar alone takes the twin (again on later frames: a noise-free scene fits a first-pass
    # gate of ~0.04, which the twin's crops, 0.18 from A's mean, fail frame after frame)
    assert wrong and without.stats["recovered_by_appearance"] >= 1
    refused, tracker = recovered(twin_look, confusers=True)
    assert not refused and tracker.stats["recovered_by_appearance"] == 0
    assert tracker.stats["recoveries_refused_by_confuser"] >= 1
    assert 0.75 < max(t.confuser for t in tracker._tracks if t.uid == 1) < 0.9  # A's twin, as learned
    itself, tracker = recovered(a_look, confusers=True)
    assert itself and tracker.stats["recovered_by_appearance"] == 1  # A itself still comes back


def test_confusers_are_learned_from_objects_of_the_same_class_seen_together_and_only_when_on():
    """Both tracks of a co-visible pair learn from one product; another class (never matched across
    classes) teaches nothing; `recovery_confusers: false` learns nothing."""
    look = unit(5)
    rest = unit(6) - (unit(6) @ look) * look
    alike = 0.82 * look + np.sqrt(1 - 0.82**2) * rest / np.linalg.norm(rest)

    def confusers(other_label: str, on: bool = True) -> list[float]:
        tracker = Tracker(TrackingConfig(recovery_confusers=on), fps=25)
        run(tracker, [Obj("a", lambda f: box_at(100, 200), look),
                      Obj("b", lambda f: box_at(300, 200), alike, label=other_label)], range(30))
        return sorted(t.confuser for t in tracker._tracks)

    pair = confusers("person")
    assert all(0.75 < c < 0.9 for c in pair)  # each saw the other at about their cosine, 0.82
    assert confusers("car") == [-np.inf, -np.inf]
    assert confusers("person", on=False) == [-np.inf, -np.inf]


def test_pairs_without_embeddings_share_the_cost_scale():
    """Item 8: a detection without an embedding costs what a middling appearance match costs
    (half the gate), not plain 1 - IoU, which is on another scale than the fused cost."""

    def winner(impute: bool) -> str:
        tracker = Tracker(TrackingConfig(impute_missing_appearance=impute, max_appearance_distance=0.6))
        run(tracker, [Obj("a", lambda f: box_at(200, 200), unit(7))], range(10), noise=0.0)
        ema = tracker._ema[0]
        side = unit(8) - (unit(8) @ ema) * ema
        looks_so_so = 0.72 * ema + np.sqrt(1 - 0.72**2) * side / np.linalg.norm(side)  # distance 0.28
        dets = Detections(np.array([box_at(194, 200), box_at(206, 200)], np.float32), np.full(2, 0.9, np.float32), ["person"] * 2)
        emb = np.stack([looks_so_so, np.zeros(DIM)]).astype(np.float32)
        (obj,) = [o for o in tracker.update(10, dets, emb, np.array([True, False])) if o.track_id == 1]
        return ["embedded", "no embedding"][obj.det_index]

    # Equal IoU (0.74) both sides. Fused cost of the embedded one: 0.9 * 0.28 + 0.1 * 0.26 = 0.278.
    assert winner(impute=True) == "embedded"  # the other costs 0.9 * 0.3 + 0.1 * 0.26 = 0.296
    assert winner(impute=False) == "no embedding"  # old: 1 - IoU = 0.26, cheaper than any real look


def test_appearance_gate_is_fitted_per_backend():
    """Item 8: not 0.6 for every backend; a tight backend gets a tight gate."""
    objects = [Obj(str(i), lambda f, i=i: box_at(80 + 90 * i, 100 + 2 * f), unit(100 + i)) for i in range(4)]
    tracker = Tracker(TrackingConfig())
    run(tracker, objects, range(150), noise=0.01)
    assert tracker.appearance_gate() < 0.1
    assert Tracker(TrackingConfig(max_appearance_distance=0.4)).appearance_gate() == 0.4


def test_a_short_clip_fits_its_own_appearance_gate():
    """40 frames of 4 walkers (1.6 s at 25 fps) are evidence enough: the gate is no longer the 0.6
    prior that every frame of a TUD-length clip used when it needed 100 samples every 4th frame."""
    objects = [Obj(str(i), lambda f, i=i: box_at(80 + 90 * i, 100 + 2 * f), unit(100 + i)) for i in range(4)]
    tracker = Tracker(TrackingConfig(), fps=25)
    run(tracker, objects, range(40), noise=0.01)
    stats = tracker.stats["calibration"]
    assert stats["gate_samples"] >= cal.MIN_GATE_SAMPLES
    assert tracker.appearance_gate() < 0.1 < cal.DEFAULT_GATE


def test_timings_are_seconds_at_the_video_rate():
    """Item 10: max_age_s becomes frames with the fps; the old frame key still wins."""
    assert Tracker(TrackingConfig(max_age_s=3.0), fps=10).max_age == 30
    assert Tracker(TrackingConfig(max_age_s=3.0), fps=25).max_age == 75
    assert Tracker(TrackingConfig(max_age_s=3.0, max_age=7), fps=25).max_age == 7
    assert Tracker(TrackingConfig(max_age_s=1.0)).max_age == 25  # no fps given: 25 assumed
    with pytest.raises(ConfigError, match="tracking.max_age_s"):
        TrackingConfig(max_age_s=0)
    with pytest.raises(ConfigError, match="tracking.cmc"):
        TrackingConfig(cmc="sometimes")


def near(ref: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A unit vector at cosine distance `distance` from unit vector `ref`."""
    side = unit(seed) - (unit(seed) @ ref) * ref
    return (1 - distance) * ref + np.sqrt(1 - (1 - distance) ** 2) * side / np.linalg.norm(side)


def side_by_side_pick(ties: bool, apart: float) -> dict[str, str]:
    """Two objects walk side by side 2 px apart; motion clearly says who is who (IoU 1.0 with its
    own prediction, 0.9 with the other's). Then their track embeddings are set `apart` (cosine
    distance) and each detection is given the *other* track's embedding. Returns track -> detection."""
    FRAMES = 25  # 1 s at the default 25 fps: the filter has learnt the walk's speed
    config = TrackingConfig(appearance_ties=ties, max_appearance_distance=0.6)
    tracker = Tracker(config)
    walk_a, walk_b = (lambda f: box_at(200 + 5 * f, 200)), (lambda f: box_at(202 + 5 * f, 200))
    run(tracker, [Obj("a", walk_a, unit(1)), Obj("b", walk_b, unit(2))], range(FRAMES), noise=0.0)
    assert tracker.calibration.tie_margin() == 0.02  # the prior: no evidence yet
    row_a = int(np.argmin(np.abs(tracker._last_box[:, 0] - walk_a(FRAMES - 1)[0])))
    row_b = 1 - row_a
    ema_a = unit(3)
    ema_b = near(ema_a, apart, 4)
    tracker._ema[row_a], tracker._ema[row_b] = ema_a, ema_b
    dets = Detections(np.array([walk_a(FRAMES), walk_b(FRAMES)], np.float32), np.full(2, 0.9, np.float32), ["person"] * 2)
    emb = np.stack([ema_b, ema_a]).astype(np.float32)  # detection "a" looks like track b, and vice versa
    picked = {o.track_id: "ab"[o.det_index] for o in tracker.update(FRAMES, dets, emb, np.ones(2, bool))}
    ids_ = {tracker._tracks[row_a].track_id: "a", tracker._tracks[row_b].track_id: "b"}
    return {ids_[t]: d for t, d in picked.items()}


def test_appearance_ties_let_motion_decide_between_look_alikes():
    """Embeddings 0.015 apart (below the prior margin 0.02, the noise of a true match): without
    ties appearance (weight 0.9) swaps the two on noise; with ties motion keeps them."""
    assert side_by_side_pick(ties=False, apart=0.015) == {"a": "b", "b": "a"}
    assert side_by_side_pick(ties=True, apart=0.015) == {"a": "a", "b": "b"}


def test_appearance_ties_still_use_appearance_that_separates():
    """Embeddings 0.1 apart (five margins): appearance decides with or without ties."""
    assert side_by_side_pick(ties=False, apart=0.1) == {"a": "b", "b": "a"}
    assert side_by_side_pick(ties=True, apart=0.1) == {"a": "b", "b": "a"}


def test_appearance_ties_term():
    from orion_core.tracking.tracker import appearance_ties

    # track 0: detections 0 and 1; track 1: detection 1 only. Margin 0.05.
    distance = np.array([0.10, 0.13, 0.30])
    pr, pc = np.array([0, 0, 1]), np.array([0, 1, 1])
    out = appearance_ties(distance, pr, pc, np.ones(3, bool), 0.05)
    # (0,1): 0.03 worse than its row's best -> a tie at 0.10; (1,1): 0.20 worse than its column's best -> kept
    np.testing.assert_allclose(out, [0.10, 0.10, 0.30])
    # pairs outside the gates are not competitors and are not changed
    out = appearance_ties(distance, pr, pc, np.array([False, True, True]), 0.05)
    np.testing.assert_allclose(out, [0.10, 0.13, 0.30])


# -- duplicate tracks (tracking.duplicate_s) --------------------------------------------------------
def frame_dets(*boxes) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32),
                      ["person"] * len(boxes))


def duplicated_person(tracker: Tracker) -> list[list]:
    """One person; on frames 5-7 the detector also gives an upper-body box (a second track is
    confirmed on it); afterwards the one detection alternates between the two shapes, so each
    track is matched every other frame and neither ages out."""
    full, upper = box_at(100, 100, 40, 80), (80.0, 60.0, 120.0, 116.0)  # IoU 0.7
    tracked = []
    for f in range(1, 31):
        boxes = (full, upper) if 5 <= f <= 7 else ((full,) if f < 5 or f % 2 else (upper,))
        tracked.append(tracker.update(f, frame_dets(*boxes)))
    return tracked


def test_a_duplicate_track_taking_turns_on_one_object_is_ended():
    """After `duplicate_s` of taking turns, the younger track ends and the person has one track."""
    tracker = Tracker(TrackingConfig(max_age_s=5.0, duplicate_s=1.0), fps=10.0)
    tracked = duplicated_person(tracker)
    assert len({o.track_id for objects in tracked[6:12] for o in objects}) == 2  # both confirmed, taking turns
    assert tracker.counts["duplicates_ended"] == 1
    assert tracker.stats["active_tracks"] == 1
    late = {o.track_id for objects in tracked[22:] for o in objects}
    assert len(late) == 1  # from then on one id, whichever shape is detected


def test_a_person_hidden_behind_another_is_not_a_duplicate():
    """Q stands 60% behind P and is detected only on frames 1-4: overlapping, never matched after,
    so its track coasts (to be recovered when Q steps out) instead of being ended."""
    p, q = box_at(100, 100, 40, 80), box_at(110, 100, 40, 80)  # IoU 0.6
    tracker = Tracker(TrackingConfig(max_age_s=5.0, duplicate_s=1.0), fps=10.0)
    for f in range(1, 31):
        tracker.update(f, frame_dets(p, q) if f <= 4 else frame_dets(p))
    assert tracker.counts["duplicates_ended"] == 0 and tracker.stats["active_tracks"] == 2
    # two people overlapping as much but both detected every frame are not duplicates either
    both = Tracker(TrackingConfig(max_age_s=5.0, duplicate_s=1.0), fps=10.0)
    for f in range(1, 31):
        both.update(f, frame_dets(p, q))
    assert both.counts["duplicates_ended"] == 0 and both.stats["active_tracks"] == 2


def test_duplicate_ending_is_off_by_default():
    assert TrackingConfig().duplicate_s == 0.0
    tracker = Tracker(TrackingConfig(max_age_s=5.0), fps=10.0)
    duplicated_person(tracker)
    assert tracker.counts["duplicates_ended"] == 0 and tracker.stats["active_tracks"] == 2


def test_run_stats_show_no_tie_margin_when_ties_are_off():
    tracker = Tracker(TrackingConfig(), fps=10.0)
    tracker.update(1, frame_dets(box_at(100, 100)))
    assert TrackingConfig().appearance_ties is False and tracker.stats["calibration"]["tie_margin"] is None
    on = Tracker(TrackingConfig(appearance_ties=True), fps=10.0)
    on.update(1, frame_dets(box_at(100, 100)))
    assert on.stats["calibration"]["tie_margin"] == 0.02  # the prior until the video has evidence


def test_a_lost_track_does_not_force_a_swap_on_two_competing_boxes():
    """TUD-Stadtmitte replay, frame 42 at 12.5 fps: person B re-emerges from behind A. B's lost
    track predicts a box that overlaps only A's detection (cost 0.54); A's track fits A's box
    (0.12) but also passes the gate on B's (0.76). Matching as many pairs as possible swaps them;
    with a cost limit (each unmatched side costs half of it) A keeps A and B's track waits."""
    from orion_core.tracking.tracker import assign

    cost = np.array([[9.0, 0.54], [0.76, 0.12]])  # rows: B's lost track, A's track; cols: B's box, A's box
    allowed = np.array([[False, True], [True, True]])
    r, c = assign(cost, allowed)
    assert list(zip(r.tolist(), c.tolist())) == [(0, 1), (1, 0)]  # the swap
    r, c = assign(cost, allowed, limit=0.8)
    assert list(zip(r.tolist(), c.tolist())) == [(1, 1)]


def test_assignment_with_a_limit_is_the_cheapest_with_unmatched_sides_paid():
    """Against brute force on small random gated problems: the total of matched costs plus half the
    limit for every unmatched row and column is minimal, and only allowed pairs are returned."""
    import itertools

    from orion_core.tracking.tracker import assign

    rng = np.random.default_rng(3)
    for _ in range(300):
        n, m = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        cost = rng.random((n, m)) * 0.8
        allowed = rng.random((n, m)) < 0.6
        limit = 0.8

        def total(pairs):
            return sum(cost[i, j] for i, j in pairs) + limit / 2 * (n + m - 2 * len(pairs))

        best = min(
            total([(i, j) for i, j in zip(rows, perm) if j is not None and allowed[i, j]])
            for k in range(min(n, m) + 1)
            for rows in itertools.combinations(range(n), k)
            for perm in itertools.permutations(range(m), k)
        )
        r, c = assign(cost, allowed, limit)
        assert allowed[r, c].all() and len(set(r.tolist())) == len(r) and len(set(c.tolist())) == len(c)
        assert total(list(zip(r.tolist(), c.tolist()))) == pytest.approx(best)


def test_track_appearance_spans_time_not_only_updates_at_high_frame_rates():
    """The track's embedding (EMA) keeps at least 0.9 of itself per update and at least ~0.38 s
    of video (what 0.9 a frame meant at 25 fps): at 50 fps one odd crop (another object's look,
    a bad crop) turns it about half as far as at 25 fps (a quarter in 1 - cosine); at 25 fps and
    below nothing changed."""
    config = TrackingConfig()
    assert config.ema_momentum_for(1 / 25) == 0.9 and config.ema_momentum_for(1 / 7) == 0.9
    assert config.ema_momentum_for(1 / 50) == pytest.approx(0.9487, abs=1e-4)
    assert config.ema_momentum_for(2 / 50) == 0.9  # every 2nd frame of a 50 fps video: 25 updates a second
    assert TrackingConfig(ema_s=0).ema_momentum_for(1 / 50) == 0.9  # per update only (before)

    def pull(fps: float) -> float:
        """How far one odd crop (cosine 0.8 to the track's look, inside the gate) pulls a settled
        track's embedding (1 - cosine)."""
        tracker = Tracker(TrackingConfig(), fps=fps)
        run(tracker, [Obj("a", lambda f: box_at(200, 200), unit(7))], range(20), noise=0.0)
        before = tracker._ema[0].copy()
        side = unit(8) - (unit(8) @ before) * before
        odd = 0.8 * before + 0.6 * side / np.linalg.norm(side)
        dets = Detections(np.array([box_at(200, 200)], np.float32), np.full(1, 0.9, np.float32), ["person"])
        (obj,) = tracker.update(20, dets, odd[None].astype(np.float32), np.array([True]))
        assert obj.track_id == 1
        return 1.0 - float(before @ tracker._ema[0])

    at_50, at_25, at_10 = pull(50), pull(25), pull(10)
    assert at_25 > 1e-3 and at_50 < 0.6 * at_25
    assert at_25 == pytest.approx(at_10)
