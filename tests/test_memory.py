"""Long-term memory: re-identification across track ends, its rules and its bounds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orion_core.config import ConfigError, MemoryConfig, TrackingConfig
from orion_core.tracking import ClaimRequest, EntityMemory, Tracker, gallery_similarity
from orion_core.types import Detections

DIM = 64


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM)
    return v / np.linalg.norm(v)


def box_at(cx: float, cy: float) -> tuple[float, float, float, float]:
    return (cx - 20, cy - 40, cx + 20, cy + 40)


def run(tracker: Tracker, scene: dict, frames, embeddings: bool = True, seed: int = 0) -> dict:
    """scene: name -> (box_fn(frame) -> box | None, embedding, label). Returns name -> {frame: (entity, track)}."""
    rng = np.random.default_rng(seed)
    seen: dict = {name: {} for name in scene}
    for frame in frames:
        present = [(name, fn(frame)) for name, (fn, _, _) in scene.items() if fn(frame) is not None]
        dets = Detections(
            np.array([b for _, b in present], np.float32).reshape(-1, 4),
            np.full(len(present), 0.9, np.float32),
            [scene[name][2] for name, _ in present],
        )
        emb = None
        if embeddings:
            emb = np.array([scene[n][1] + rng.normal(0, 0.02, DIM) for n, _ in present], np.float32).reshape(-1, DIM)
            emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
        for obj in tracker.update(frame, dets, emb, None):
            seen[present[obj.det_index][0]][frame] = (obj.entity_id, obj.track_id)
    return seen


def entities(track: dict, frames) -> set[int]:
    return {track[f][0] for f in frames if f in track}


def tracks(track: dict, frames) -> set[int]:
    return {track[f][1] for f in frames if f in track}


def leaves_and_returns(gap_end: int = 40):
    """Visible frames 0-19 on the left, gone until `gap_end`, then back on the right (far away)."""
    return lambda f: box_at(100 + f, 200) if f < 20 else (box_at(600, 300) if f >= gap_end else None)


def make(memory_config: MemoryConfig | None = None, tracking: TrackingConfig | None = None, memory: bool = True):
    tracking = tracking or TrackingConfig(max_age=5)
    mem = EntityMemory(memory_config or MemoryConfig(), reid_threshold=0.75) if memory else None
    return Tracker(tracking, memory=mem), mem


# ---- re-identification ------------------------------------------------------------------


def test_object_back_after_max_age_gets_its_old_entity_id():
    tracker, memory = make()
    seen = run(tracker, {"a": (leaves_and_returns(), unit(1), "person")}, range(60))["a"]
    before, after = range(20), range(40, 60)
    assert tracks(seen, before) != tracks(seen, after)  # the online track died (max_age=5) ...
    assert entities(seen, before) == entities(seen, after) == {1}  # ... the entity did not
    assert tracker.stats["reidentified"] == 1 and memory.stats["reidentified"] == 1
    tracker.finish()
    (record,) = memory.entities()
    assert [t["track_id"] for t in record["tracklets"]] == [1, 2]
    assert record["reidentified"] == 1 and record["state"] == "dormant"


@pytest.mark.parametrize(
    "variant",
    ["memory disabled", "appearance off", "no memory object", "different look", "class threshold"],
)
def test_without_reid_evidence_the_returning_object_gets_a_new_id(variant):
    looks_back = unit(1)
    memory_config, tracking, use_memory, embeddings = MemoryConfig(), TrackingConfig(max_age=5), True, True
    if variant == "memory disabled":
        memory_config = MemoryConfig(enabled=False)
    elif variant == "appearance off":
        tracking, embeddings = TrackingConfig(max_age=5, appearance=False), False
    elif variant == "no memory object":
        use_memory = False
    elif variant == "different look":
        looks_back = unit(2)
    elif variant == "class threshold":
        memory_config = MemoryConfig(class_thresholds={"person": 0.999})
    tracker, _ = make(memory_config, tracking, use_memory)
    box = leaves_and_returns()
    scene = {
        "before": (lambda f: box(f) if f < 20 else None, unit(1), "person"),
        "after": (lambda f: box(f) if f >= 20 else None, looks_back, "person"),
    }
    seen = run(tracker, scene, range(60), embeddings=embeddings)
    assert entities(seen["before"], range(20)) == {1}
    assert entities(seen["after"], range(40, 60)) == {2}


def test_reid_is_per_class():
    tracker, _ = make()
    box = leaves_and_returns()
    scene = {
        "person": (lambda f: box(f) if f < 20 else None, unit(1), "person"),
        "dog": (lambda f: box(f) if f >= 20 else None, unit(1), "dog"),
    }
    seen = run(tracker, scene, range(60))
    assert entities(seen["person"], range(60)) == {1} and entities(seen["dog"], range(60)) == {2}


@pytest.mark.parametrize("max_gap, same", [(10, False), (30, True), (None, True)])
def test_max_gap_frames_is_honoured(max_gap, same):
    # Last seen at frame 19, back at frame 40: a gap of 21 frames.
    tracker, memory = make(MemoryConfig(max_gap_frames=max_gap))
    seen = run(tracker, {"a": (leaves_and_returns(40), unit(1), "person")}, range(60))["a"]
    assert (entities(seen, range(20)) == entities(seen, range(40, 60))) is same
    if not same:
        assert memory.stats["forgotten"] == 1  # expired entities free their gallery at once


def test_lost_track_entity_can_be_claimed_and_the_lost_track_is_kept():
    # Back far away (out of the recovery gate) while the old track is still alive (max_age=30).
    tracker, memory = make(tracking=TrackingConfig(max_age=30))
    seen = run(tracker, {"a": (leaves_and_returns(25), unit(1), "person")}, range(40))["a"]
    assert entities(seen, range(40)) == {1}
    assert len(tracks(seen, range(40))) == 2
    # Issue 10 item 2: the lost track is not ended by the claim (it would be, wrongly, if the
    # claim were a look-alike); it lives on, without an entity, until max_age or its return.
    assert tracker.stats["active_tracks"] == 2 and tracker.stats["tracks_ended"] == 0
    assert tracker.stats["displaced_kept"] == 1
    stats = {k: memory.stats[k] for k in ("entities", "reidentified", "late_reidentified", "forgotten", "active", "dormant")}
    assert stats == {"entities": 1, "reidentified": 1, "late_reidentified": 0, "forgotten": 0, "active": 1, "dormant": 0}
    assert memory.stats["displaced_lost_tracks"] == 1
    # The old rule, kept as an ablation switch: the claim ends the lost track.
    tracker, memory = make(tracking=TrackingConfig(max_age=30, keep_displaced=False))
    run(tracker, {"a": (leaves_and_returns(25), unit(1), "person")}, range(40))
    assert tracker.stats["active_tracks"] == 1 and tracker.stats["tracks_ended"] == 1


def test_a_wrong_claim_does_not_end_the_real_owners_lost_track():
    """A look-alike appears elsewhere while the owner is briefly hidden and takes its entity;
    the owner comes back where it vanished: its own track continues (no new track), and it
    gets an entity again (not the look-alike's)."""
    look = unit(1)
    owner = lambda f: box_at(100 + 2 * f, 200) if (f < 20 or f >= 32) else None  # hidden 20-31
    other = lambda f: box_at(600, 300) if f >= 24 else None
    tracker, memory = make(tracking=TrackingConfig(max_age=30))
    seen = run(tracker, {"owner": (owner, look, "person"), "other": (other, look, "person")}, range(50))
    assert tracks(seen["owner"], range(50)) == {1}  # one track from start to end: never ended
    assert entities(seen["other"], range(40, 50)) == {1}  # the look-alike took the entity ...
    assert entities(seen["owner"], range(32, 50)) != {1}  # ... so the owner, back, got another one
    assert tracker.stats["displaced_kept"] == 1


def test_simultaneous_tracks_never_share_an_entity_id():
    """Four identical look-alikes blinking in and out: re-ID is tempting, overlap must forbid it,
    and the video's own evidence (co-visible tracks look as alike as one track's crops) must
    switch re-identification off and say so."""
    rng = np.random.default_rng(7)
    look = unit(3)
    visible = rng.random((4, 120)) < 0.6
    visible[:, :5] = True
    scene = {
        str(i): (lambda f, i=i: box_at(100 + 150 * i, 200) if visible[i, f // 6] else None, look, "person")
        for i in range(4)
    }
    tracker, memory = make(tracking=TrackingConfig(max_age=4, recovery_radius=0.5))
    seen = run(tracker, scene, range(240))
    per_frame: dict[int, list[int]] = {}
    for track in seen.values():
        for frame, (entity, _) in track.items():
            per_frame.setdefault(frame, []).append(entity)
    assert all(len(e) == len(set(e)) for e in per_frame.values())
    calibration = tracker.stats["calibration"]
    assert calibration["source"] == "uninformative" and calibration["auc"] < 0.6
    assert "merges nothing" in calibration["note"]
    assert memory.stats["reidentified"] <= 1  # at most one before the evidence was in
    assert memory.stats["rejected_below_bar"] > 100
    tracker.finish()
    for record in memory.entities():  # and an entity's tracklets never overlap in time
        spans = sorted((t["first_frame"], t["last_frame"]) for t in record["tracklets"])
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))


# ---- the claim rule ---------------------------------------------------------------------


def test_gallery_similarity_is_the_mean_of_each_query_best_match():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0]])
    query = np.array([[1.0, 0.0], [0.6, 0.8]])
    assert gallery_similarity(query, gallery) == pytest.approx((1.0 + 0.8) / 2)


def angle(degrees: float) -> np.ndarray:
    v = np.zeros(DIM)
    v[0], v[1] = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return v


def dormant_memory(looks: list[np.ndarray], **config) -> EntityMemory:
    memory = EntityMemory(MemoryConfig(**config), reid_threshold=0.75)
    claims = memory.claim([ClaimRequest(i + 1, "person", 0, look[None]) for i, look in enumerate(looks)], 0)
    ids = [c.entity_id for c in claims]
    memory.observe(0, ids, np.array([box_at(50, 50)] * len(ids)), np.full(len(ids), 0.9), np.stack(looks))
    for entity_id in ids:
        memory.release(entity_id)
    return memory


def test_open_set_claims_take_only_a_clear_best_and_never_share_it():
    memory = dormant_memory([angle(0), angle(30)])  # entities 1 and 2
    x, y = angle(12)[None], angle(-15)[None]  # x: 0.978 to e1, 0.951 to e2; y: 0.966 to e1, 0.707 to e2
    claims = memory.claim([ClaimRequest(10, "person", 5, x), ClaimRequest(11, "person", 5, y)], 5)
    # Each may only take its clear best (e1); both want it, the closer (x) gets it and y founds a
    # new entity: taking x's runner-up for x, as a joint solver would, is a guess.
    assert [(c.entity_id, c.reidentified) for c in claims] == [(1, True), (3, False)]


def test_an_ambiguous_best_candidate_is_refused_by_the_margin():
    memory = dormant_memory([angle(0), angle(2)])  # two entities that look almost the same
    (claim,) = memory.claim([ClaimRequest(10, "person", 5, angle(1)[None])], 5)  # equally close to both
    assert not claim.reidentified and memory.stats["rejected_by_margin"] == 1
    (claim,) = memory.claim([ClaimRequest(11, "person", 6, angle(-8)[None])], 6)  # clearly e1 (0.990 vs 0.985)
    assert not claim.reidentified  # 0.005 apart: still inside the prior margin (0.02)
    (claim,) = memory.claim([ClaimRequest(12, "person", 7, angle(-60)[None])], 7)  # both far below the bar
    assert not claim.reidentified and memory.stats["rejected_below_bar"] == 1


def test_a_claim_must_look_more_like_the_entity_than_like_an_object_seen_beside_it():
    """Rivals: an entity seen while the candidate was is certainly another object; a track that looks
    more like it (a twin, or the very object whose own track swapped away) must not take the
    candidate, however clearly the candidate beats the other candidates (here: none)."""

    def memory_with_a_rival(**config) -> EntityMemory:
        memory = EntityMemory(MemoryConfig(**config), reid_threshold=0.75)
        claims = memory.claim([ClaimRequest(1, "person", 0, angle(0)[None]), ClaimRequest(2, "person", 0, angle(40)[None])], 0)
        ids = [c.entity_id for c in claims]
        memory.observe(0, ids, np.array([box_at(50, 50), box_at(150, 50)]), np.full(2, 0.9), np.stack([angle(0), angle(40)]))
        memory.release(ids[0])  # entity 1 dormant; entity 2, seen beside it, still held by its track
        return memory

    memory = memory_with_a_rival()
    (claim,) = memory.claim([ClaimRequest(10, "person", 5, angle(25)[None])], 5)  # 0.906 to e1, 0.966 to e2
    assert not claim.reidentified and memory.stats["rejected_by_rival"] == 1
    (claim,) = memory.claim([ClaimRequest(11, "person", 6, angle(-5)[None])], 6)  # 0.996 to e1, 0.707 to e2
    assert claim.reidentified and claim.entity_id == 1
    off = memory_with_a_rival(rivals=False)
    (claim,) = off.claim([ClaimRequest(10, "person", 5, angle(25)[None])], 5)
    assert claim.reidentified and claim.entity_id == 1  # without the rule, the pooled bar takes it


def test_no_temporal_overlap_with_the_entity_is_allowed():
    memory = dormant_memory([angle(0)])  # last seen at frame 0
    (claim,) = memory.claim([ClaimRequest(5, "person", 0, angle(0)[None])], 3)  # track began at frame 0 too
    assert not claim.reidentified and claim.entity_id == 2


def test_threshold_resolution():
    assert EntityMemory(MemoryConfig(), reid_threshold=0.6).threshold_for("car") == 0.6
    assert EntityMemory(MemoryConfig(reid_threshold=0.9)).threshold_for("car") == 0.9
    assert EntityMemory(MemoryConfig()).threshold_for("car") == 0.75
    memory = EntityMemory(MemoryConfig(class_thresholds={"car": 0.95}), reid_threshold=0.6)
    assert memory.threshold_for("car") == 0.95 and memory.threshold_for("person") == 0.6


# ---- bounds -----------------------------------------------------------------------------


def test_dormant_entities_are_capped_oldest_forgotten_first():
    forgotten: list[dict] = []
    looks = [unit(100 + i) for i in range(10)]
    memory = EntityMemory(MemoryConfig(max_entities=3), reid_threshold=0.75, on_forget=forgotten.append)
    for i, look in enumerate(looks):
        (claim,) = memory.claim([ClaimRequest(i + 1, "person", 10 * i, look[None])], 10 * i)
        memory.observe(10 * i, [claim.entity_id], np.array([box_at(50, 50)]), np.array([0.9]), look[None])
        memory.release(claim.entity_id)
    assert memory.stats["dormant"] == 3 and memory.stats["forgotten"] == 7
    assert [r["id"] for r in forgotten] == list(range(1, 8))
    assert forgotten[0]["state"] == "forgotten" and len(forgotten[0]["prototype"]) == DIM
    assert [r["id"] for r in memory.entities()] == [8, 9, 10]
    # A forgotten entity can no longer be re-claimed; a kept one can.
    requests = [ClaimRequest(20, "person", 200, looks[0][None]), ClaimRequest(21, "person", 200, looks[9][None])]
    old, recent = memory.claim(requests, 200)
    assert not old.reidentified and recent.entity_id == 10


def test_forgotten_records_stay_listed_without_a_callback():
    memory = EntityMemory(MemoryConfig(max_entities=1), reid_threshold=0.75)
    for i in range(3):
        (claim,) = memory.claim([ClaimRequest(i + 1, "person", i, unit(i)[None])], i)
        memory.observe(i, [claim.entity_id], np.array([box_at(50, 50)]), np.array([0.9]), unit(i)[None])
        memory.release(claim.entity_id)
    records, prototypes = memory.export()
    assert [(r["id"], r["state"]) for r in records] == [(1, "forgotten"), (2, "forgotten"), (3, "dormant")]
    # Forgotten records keep no embedding (issue 10 item 6: bounded memory on long videos).
    assert [r["prototype_row"] for r in records] == [None, None, 0] and prototypes.shape == (1, DIM)
    assert memory.entities() == records  # export does not consume anything


def test_entity_gallery_is_bounded():
    memory = EntityMemory(MemoryConfig(gallery_size=8), reid_threshold=0.75)
    (claim,) = memory.claim([ClaimRequest(1, "person", 0, None)], 0)
    for f in range(100):
        memory.observe(f, [claim.entity_id], np.array([box_at(50, 50)]), np.array([0.9]), unit(f)[None])
    assert memory._entities[claim.entity_id].gallery.rows.shape == (8, DIM)
    assert memory._entities[claim.entity_id].gallery.count == 8


# ---- the record -------------------------------------------------------------------------


def test_entity_record_contents():
    tracker, memory = make(tracking=TrackingConfig(max_age=5, min_hits=3))

    def box(f: int):
        if f < 5 or 20 <= f < 40:
            return None
        size = 60 if f == 10 else 40  # the biggest box is the best thumbnail
        cx = 100 + f if f < 20 else 600
        return (cx - size / 2, 200 - size, cx + size / 2, 200 + size)

    look = unit(1)
    run(tracker, {"other": (lambda f: box_at(700, 500), unit(9), "person"), "a": (box, look, "person")}, range(50))
    tracker.finish()
    records, prototypes = memory.export()
    json.dumps(records)
    record = next(r for r in records if r["id"] != 1)
    assert record["class"] == "person"
    assert record["first_frame"] == 7  # first seen at 5, confirmed (reported) at its 3rd observation
    assert record["last_frame"] == 49
    assert record["observations"] == (19 - 7 + 1) + (49 - 42 + 1)
    assert record["tracklets"] == [
        {"track_id": 2, "first_frame": 7, "last_frame": 19},
        {"track_id": 3, "first_frame": 42, "last_frame": 49},
    ]
    assert record["thumbnail"]["frame"] == 10 and record["thumbnail"]["box"] == [80.0, 140.0, 140.0, 260.0]
    prototype = prototypes[record["prototype_row"]]
    assert np.linalg.norm(prototype) == pytest.approx(1.0, abs=1e-5) and prototype @ look > 0.99


def test_thumbnail_updates_are_reported_once():
    memory = EntityMemory(MemoryConfig(), reid_threshold=0.75)
    (claim,) = memory.claim([ClaimRequest(1, "person", 0, None)], 0)
    memory.observe(0, [claim.entity_id], np.array([box_at(50, 50)]), np.array([0.9]))
    assert memory.pop_thumbnail_updates() == {1: {"frame": 0, "box": list(box_at(50, 50)), "score": pytest.approx(0.9)}}
    memory.observe(1, [claim.entity_id], np.array([(0, 0, 10, 10)]), np.array([0.99]))  # smaller: no update
    assert memory.pop_thumbnail_updates() == {}


def test_memory_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="memory.reid_threshold"):
        MemoryConfig(reid_threshold=2.0)
    with pytest.raises(ConfigError, match="memory.class_thresholds.car"):
        MemoryConfig(class_thresholds={"car": "high"})
    with pytest.raises(ConfigError, match="memory.max_entities"):
        MemoryConfig(max_entities=0)


def reentering_at_the_edge(frame: int) -> np.ndarray:
    """Back at frame 46 barely recognisable (edge of the frame), fully itself from frame 52."""
    look, edge = unit(1), unit(2)
    w = 1.0 if frame < 46 else min(1.0, 0.2 + 0.8 * (frame - 46) / 6)
    v = w * look + (1 - w) * edge
    return v / np.linalg.norm(v)


def run_reentry(late_reid_frames: int, tracking: TrackingConfig | None = None):
    tracker, memory = make(memory_config=MemoryConfig(late_reid_frames=late_reid_frames), tracking=tracking)
    seen: dict = {}
    for frame in range(70):
        box = leaves_and_returns(46)(frame)
        n = 0 if box is None else 1
        dets = Detections(np.array([box] if n else [], np.float32).reshape(-1, 4), np.full(n, 0.9, np.float32), ["person"] * n)
        emb = np.array([reentering_at_the_edge(frame)] * n, np.float32).reshape(n, DIM)
        for obj in tracker.update(frame, dets, emb, None):
            seen[frame] = obj.entity_id
    return tracker, memory, seen


def test_half_visible_reentry_is_recognised_late_and_merged():
    """Its first crops match poorly, so confirmation founds a new entity; a few frames later it is clearly entity 1."""
    tracker, memory, seen = run_reentry(late_reid_frames=10)
    young = seen[48]
    assert young != 1
    assert all(seen[f] == 1 for f in range(56, 70))
    assert memory.merged == {young: 1}
    assert memory.stats["late_reidentified"] == 1 and memory.stats["entities"] == 2
    tracker.finish()
    (record,) = memory.entities()  # the young entity is gone; its tracklet belongs to entity 1
    assert record["id"] == 1 and len(record["tracklets"]) == 2


def test_late_reid_window_zero_keeps_the_new_id():
    tracker, memory, seen = run_reentry(late_reid_frames=0)
    assert {seen[f] for f in range(48, 70)} == {seen[48]} != {1}
    assert memory.merged == {}


def test_late_reid_also_considers_entities_held_by_lost_tracks():
    """Item 5: the old track is still lost (max_age not reached) when the object re-enters; the late
    claim may take its entity (stricter bar), and the lost track is kept, not ended (item 2)."""
    tracker, memory, seen = run_reentry(late_reid_frames=10, tracking=TrackingConfig(max_age=60))
    assert seen[48] != 1 and all(seen[f] == 1 for f in range(56, 70))
    assert memory.stats["late_reidentified"] == 1 and memory.stats["displaced_lost_tracks"] == 1
    assert tracker.stats["displaced_kept"] == 1 and tracker.stats["tracks_ended"] == 0


def test_memory_stays_bounded_on_a_long_video():
    """Item 6: thousands of short-lived entities; nothing grows past its cap."""
    memory = EntityMemory(MemoryConfig(max_entities=20), reid_threshold=0.999)
    for i in range(3000):
        (claim,) = memory.claim([ClaimRequest(i + 1, "person", i, unit(i % 50)[None])], i)
        memory.observe(i, [claim.entity_id], np.array([box_at(50, 50)]), np.array([0.9]), unit(i % 50)[None])
        memory.release(claim.entity_id)
    assert len(memory._dormant) == 20 and len(memory._entities) == 20
    assert len(memory._thumbnail_updates) <= 20  # forgotten entities' pending updates are dropped
    assert all(r["_prototype"] is None for r in memory._forgotten)  # no embedding per forgotten entity
    assert memory.stats["forgotten"] == 2980


def test_timings_are_seconds_at_the_video_rate():
    """Item 10: max_gap_s / late_reid_s become frames with the fps; the old frame keys win."""
    memory = EntityMemory(MemoryConfig(max_gap_s=2.0, late_reid_s=1.5), fps=10)
    assert memory.max_gap_frames == 20 and memory.late_reid_frames == 15
    memory = EntityMemory(MemoryConfig(max_gap_s=2.0, max_gap_frames=7, late_reid_frames=3), fps=10)
    assert memory.max_gap_frames == 7 and memory.late_reid_frames == 3
    assert EntityMemory(MemoryConfig(max_gap_s=None), fps=10).max_gap_frames is None
    with pytest.raises(ConfigError, match="memory.max_gap_s"):
        MemoryConfig(max_gap_s=-1.0)


# ---- the speed limit ----------------------------------------------------------------------


def test_speed_limit_learns_from_moving_tracks_only():
    from orion_core.tracking.memory import SpeedLimit

    limit = SpeedLimit()
    limit.add(np.full(SpeedLimit.MIN_SAMPLES - 1, 0.02))
    assert limit.limit() is None and limit.reachable(np.array([0, 0, 10, 20.0]), np.array([900, 0, 910, 20.0]), 1)
    limit.add(np.array([0.02]))
    assert limit.limit() == pytest.approx(SpeedLimit.SAFETY * 0.02)
    here = np.array([100, 100, 140, 180.0])  # 80 px high
    assert limit.reachable(here, here + [60, 0, 60, 0], 1)  # 0.75 heights: within the slack
    assert not limit.reachable(here, here + [200, 0, 200, 0], 5)  # 2.5 heights in 5 frames: 0.3 heights a frame
    assert limit.reachable(here, here + [200, 0, 200, 0], 40)  # the same distance in 40 frames is a walk


def walkers(n: int, frames: int, speed: float) -> dict:
    """`n` look-different objects walking right at `speed` px/frame (80 px high): they teach the
    memory how fast things move in this scene."""
    return {f"w{i}": (lambda f, i=i: box_at(100 + speed * f, 500 + 120 * i) if f < frames else None, unit(10 + i), "person")
            for i in range(n)}


def test_a_look_alike_too_far_away_to_be_the_lost_object_does_not_take_its_id():
    """`a` walks 2 px a frame and is lost at x~220; 4 frames later a look-alike appears 480 px
    (6 heights) away: nothing in this scene moves that fast, so it is someone else. `a` comes
    back where it vanished and keeps its entity. Without the limit the look-alike takes it."""
    look = unit(1)
    scene = {
        **walkers(8, 140, speed=4.0),
        "a": (lambda f: box_at(100 + 2 * f, 200) if f < 60 or f >= 75 else None, look, "person"),
        "b": (lambda f: box_at(700, 200) if 64 <= f < 74 else None, look, "person"),
    }
    tracker, memory = make()
    seen = run(tracker, scene, range(120))
    assert memory.stats["speed_limit"]["limit_heights_per_frame"] == pytest.approx(2 * 4.0 / 80, rel=0.3)
    assert memory.stats["rejected_too_far"] >= 1
    assert entities(seen["b"], range(64, 74)).isdisjoint(entities(seen["a"], range(60)))
    assert entities(seen["a"], range(75, 120)) == entities(seen["a"], range(60))

    tracker, memory = make(MemoryConfig(speed_limit=False))
    seen = run(tracker, scene, range(120))
    assert entities(seen["b"], range(67, 74)) == entities(seen["a"], range(60))  # the wrong merge it prevents


def test_speed_limit_follows_a_moving_camera():
    """Stored last positions move with the camera's warp: after a 400 px pan, the object seen 2
    frames later 400 px to the right is where it was, not 5 heights away."""
    from orion_core.tracking.memory import SpeedLimit

    def returning(pan: bool) -> bool:
        memory = EntityMemory(MemoryConfig(), reid_threshold=0.75)
        memory.speed.add(np.full(SpeedLimit.MIN_SAMPLES, 0.01))
        (claim,) = memory.claim([ClaimRequest(1, "person", 0, unit(1)[None, :], box=np.array(box_at(100, 200)), box_frame=0)], 0)
        memory.observe(0, [claim.entity_id], np.array([box_at(100, 200)], np.float32), np.array([0.9]), unit(1)[None, :])
        memory.release(claim.entity_id)
        if pan:
            memory.warp(np.array([[1.0, 0.0, 400.0], [0.0, 1.0, 0.0]]))
        back = ClaimRequest(2, "person", 2, unit(1)[None, :], box=np.array(box_at(500, 200)), box_frame=2)
        (again,) = memory.claim([back], 2)
        return again.entity_id == claim.entity_id

    assert returning(pan=True)
    assert not returning(pan=False)  # the same boxes without the camera's motion: too far to be it


def test_after_a_cut_positions_no_longer_limit_claims():
    from orion_core.tracking.memory import SpeedLimit

    memory = EntityMemory(MemoryConfig(), reid_threshold=0.75)
    memory.speed.add(np.full(SpeedLimit.MIN_SAMPLES, 0.01))
    (claim,) = memory.claim([ClaimRequest(1, "person", 0, unit(1)[None, :], box=np.array(box_at(100, 200)), box_frame=0)], 0)
    memory.observe(0, [claim.entity_id], np.array([box_at(100, 200)], np.float32), np.array([0.9]), unit(1)[None, :])
    memory.release(claim.entity_id)
    memory.forget_positions()  # a new shot: the same person may be anywhere in it
    back = ClaimRequest(2, "person", 2, unit(1)[None, :], box=np.array(box_at(500, 200)), box_frame=2)
    assert memory.claim([back], 2)[0].entity_id == claim.entity_id
