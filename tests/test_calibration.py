"""Per-video re-ID calibration (issue 10 item 1): the video labels itself, decisions use the fit."""

from __future__ import annotations

import numpy as np
import pytest

from orion_core.config import MemoryConfig, TrackingConfig
from orion_core.tracking import EntityMemory, Tracker
from orion_core.tracking import calibration as cal
from orion_core.tracking.calibration import ReidCalibration
from orion_core.types import Detections

DIM = 32


def unit_rows(rng, n: int, centre: np.ndarray, noise: float) -> np.ndarray:
    rows = centre + rng.normal(0, noise, (n, len(centre)))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def feed(calibration: ReidCalibration, rng, looks: np.ndarray, noise: float, samples: int = 80) -> None:
    """Positives from one look's crops, negatives between two looks, as the tracker samples them."""
    for i in range(samples):
        a, b = rng.choice(len(looks), 2, replace=False)
        calibration.add_positive(unit_rows(rng, 12, looks[a], noise), track=int(a))
        calibration.add_negative(unit_rows(rng, cal.QUERY, looks[a], noise), unit_rows(rng, 16, looks[b], noise),
                                 pair=(int(a), int(b)))


def looks(n: int, seed: int = 0) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed), n, np.zeros(DIM), 1.0)


def test_prior_decides_until_the_video_gave_enough_evidence():
    calibration = ReidCalibration(0.8)
    assert calibration.bar() == 0.8 and calibration.margin() == cal.PRIOR_MARGIN
    rng = np.random.default_rng(1)
    feed(calibration, rng, looks(6), 0.1, samples=cal.MIN_POSITIVES - 1)
    assert calibration.stats["source"] == "prior" and calibration.bar() == 0.8
    assert "not enough evidence" in calibration.stats["note"]
    feed(calibration, rng, looks(6), 0.1, samples=cal.MIN_NEGATIVES)
    assert calibration.stats["source"] == "fitted"


def test_fitted_bar_sits_above_the_negatives_and_rises_with_candidates():
    calibration = ReidCalibration(0.99)  # a prior far too strict for this "backend"
    feed(calibration, np.random.default_rng(2), looks(8), 0.15)
    stats = calibration.stats
    negatives = calibration.negatives.filled()
    assert stats["source"] == "fitted" and stats["auc"] > 0.99
    assert calibration.bar() == pytest.approx(np.quantile(negatives, 1 - cal.ALPHA))
    assert calibration.bar(10) > calibration.bar(1)  # more candidates, more chances of a look-alike
    assert calibration.bar(held=True) == pytest.approx(calibration.bar() + calibration.margin())
    assert np.median(calibration.positives.filled()) > calibration.bar() > np.quantile(negatives, 0.9)
    assert stats["bar"] < 0.99  # the prior no longer decides
    assert stats["positives"] == stats["negatives"] == 80 and stats["negative_pairs"] >= cal.MIN_PAIRS


def test_a_backend_that_cannot_tell_objects_apart_merges_nothing_and_says_so():
    # Random-weight stand-in: every crop is noise, whoever it shows.
    calibration = ReidCalibration(0.5)
    rng = np.random.default_rng(3)
    for i in range(100):
        calibration.add_positive(unit_rows(rng, 12, np.zeros(DIM), 1.0), track=i % 7)
        calibration.add_negative(unit_rows(rng, 4, np.zeros(DIM), 1.0), unit_rows(rng, 16, np.zeros(DIM), 1.0), pair=(i % 9, 9))
    stats = calibration.stats
    assert stats["source"] == "uninformative" and stats["bar"] is None and stats["auc"] < cal.MIN_AUC
    assert calibration.bar() == np.inf and calibration.recovery_bar() == np.inf
    assert "merges nothing" in stats["note"]


def alike_negatives(calibration: ReidCalibration, rng, n: int) -> None:
    """Negatives between six people in nearly the same colours, and no positive at all: a short clip
    whose tracks are too young for a positive (one needs 10 crops of a track)."""
    people = unit_rows(np.random.default_rng(7), 6, np.ones(DIM), 0.15)
    for _ in range(n):
        a, b = rng.choice(6, 2, replace=False)
        calibration.add_negative(unit_rows(rng, cal.QUERY, people[a], 0.05), unit_rows(rng, 16, people[b], 0.05),
                                 pair=(int(a), int(b)))


def test_negatives_alone_raise_a_prior_that_sits_below_them():
    calibration = ReidCalibration(0.5)  # a prior measured on distinct-looking crops
    rng = np.random.default_rng(8)
    alike_negatives(calibration, rng, cal.MIN_RAISE_NEGATIVES - 1)
    assert calibration.bar() == 0.5 and calibration.recovery_bar() == 0.5 and calibration.stats["source"] == "prior"
    alike_negatives(calibration, rng, 1)
    negatives = calibration.negatives.filled()
    assert np.median(negatives) > 0.5  # most different people here score above the prior
    stats = calibration.stats
    assert stats["source"] == "raised" and stats["positives"] == 0 and "never lower" in stats["note"]
    assert calibration.bar() == pytest.approx(np.quantile(negatives, 1 - cal.ALPHA))
    assert calibration.bar(10) >= calibration.bar(1) > np.quantile(negatives, 0.9)
    assert calibration.bar(held=True) == pytest.approx(calibration.bar() + cal.PRIOR_MARGIN)
    assert calibration.recovery_bar() == pytest.approx(
        np.quantile(calibration.negatives_single.filled(), 1 - cal.ALPHA))
    alike_negatives(calibration, rng, 10)  # a raised bar follows new negatives at once
    assert calibration.bar() == pytest.approx(np.quantile(calibration.negatives.filled(), 1 - cal.ALPHA))


def test_negatives_alone_never_lower_the_prior():
    for prior, enabled in ((0.999, True), (0.5, False)):
        calibration = ReidCalibration(prior, enabled=enabled)
        alike_negatives(calibration, np.random.default_rng(9), 3 * cal.MIN_RAISE_NEGATIVES)
        assert calibration.bar() == prior and calibration.recovery_bar() == prior
        assert calibration.stats["source"] == "prior"


def test_disabled_calibration_keeps_the_prior():
    calibration = ReidCalibration(0.7, enabled=False)
    feed(calibration, np.random.default_rng(4), looks(8), 0.15)
    assert calibration.bar() == 0.7 and calibration.stats["source"] == "prior"
    assert calibration.appearance_gate() == cal.DEFAULT_GATE


def test_appearance_gate_follows_the_backend_scale():
    tight, loose = ReidCalibration(0.8), ReidCalibration(0.8)
    rng = np.random.default_rng(5)
    for _ in range(40):
        tight.add_match_distances(np.abs(rng.normal(0, 0.01, 8)))
        loose.add_match_distances(np.abs(rng.normal(0, 0.15, 8)))
    assert 0.02 <= tight.appearance_gate() < 0.1 < loose.appearance_gate() < 0.8



def test_match_distances_beyond_a_frames_quota_are_a_random_choice_not_the_first_rows():
    """The first rows are the oldest tracks, frame after frame: a crowd's gate must hear the others too."""
    calibration = ReidCalibration(0.8)
    for _ in range(20):
        calibration.add_match_distances(np.r_[np.zeros(cal.GATE_PER_FRAME), np.ones(2 * cal.GATE_PER_FRAME)])
    kept = calibration.match_distances.filled()
    assert len(kept) == 20 * cal.GATE_PER_FRAME
    assert 0.5 < kept.mean() < 0.85  # two thirds of the offered distances are 1.0


def test_tie_margin_is_the_within_track_noise_not_the_spread_between_tracks():
    """Tracks sit at very different typical distances (0.05 .. 0.45), each with 0.01 of crop noise:
    the tie margin is that noise, not the 0.1+ spread of all distances; the prior until it has evidence."""
    calibration = ReidCalibration(0.8)
    rng = np.random.default_rng(6)
    levels = np.linspace(0.05, 0.45, 8)
    assert calibration.tie_margin() == cal.PRIOR_MARGIN
    for frame in range(0, 80, cal.SAMPLE_EVERY):
        calibration.add_match_changes(levels + rng.normal(0, 0.01, 8), list(range(8)), frame)
        calibration.add_match_distances(levels + rng.normal(0, 0.01, 8))
    assert calibration.match_distances.filled().std() > 0.1
    assert 0.007 < calibration.tie_margin() < 0.013
    assert calibration.stats["tie_margin"] == round(calibration.tie_margin(), 4)
    # a track not sampled for more than two sampling periods gives no change
    other = ReidCalibration(0.8)
    for frame in range(0, 400, 3 * cal.SAMPLE_EVERY):
        other.add_match_changes(levels + rng.normal(0, 0.01, 8), list(range(8)), frame)
    assert other.match_changes.total == 0 and other.tie_margin() == cal.PRIOR_MARGIN


# ---- in the tracker: the statistic the memory uses, from the video itself ----------------------


def crowd_run(looks_of: np.ndarray, frames: int = 160, noise: float = 0.05, memory: bool = True) -> Tracker:
    """`len(looks_of)` objects walking in lanes, all visible together: plenty of labelled pairs."""
    rng = np.random.default_rng(0)
    mem = EntityMemory(MemoryConfig(), reid_threshold=0.75) if memory else None
    tracker = Tracker(TrackingConfig(), memory=mem)
    n = len(looks_of)
    for f in range(frames):
        boxes = np.array([[40 + 3 * f, 20 + 90 * i, 80 + 3 * f, 100 + 90 * i] for i in range(n)], np.float32)
        emb = unit_rows(rng, n, np.zeros(DIM), 1.0) * 0 + looks_of + rng.normal(0, noise, looks_of.shape)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        tracker.update(f, Detections(boxes, np.full(n, 0.9, np.float32), ["person"] * n), emb.astype(np.float32), None)
    return tracker


def test_tracker_fits_the_bar_on_the_memory_statistic_and_reports_it():
    tracker = crowd_run(looks(5))
    stats = tracker.stats["calibration"]
    assert stats["source"] == "fitted" and stats["auc"] > 0.95
    assert stats["negative_pairs"] >= cal.MIN_PAIRS and stats["positive_tracks"] == 5
    # Distinct looks (cosine ~0) with 5% noise: the bar lands between the two populations.
    assert stats["negative_median"] < stats["bar"] < stats["positive_median"]
    assert tracker.memory.threshold_for("person") == pytest.approx(stats["bar"], abs=1e-4)


def test_an_identity_blind_backend_switches_reid_off_in_the_tracker():
    # What a random-weight network does: stable embeddings (the same crop gives the same row)
    # that carry no identity (every object maps near the same point).
    tracker = crowd_run(np.repeat(looks(1), 5, axis=0))
    stats = tracker.stats["calibration"]
    assert stats["source"] == "uninformative" and "merges nothing" in stats["note"]
    assert tracker.memory.threshold_for("person") == np.inf


def test_auc_is_the_mann_whitney_statistic_ties_counting_half():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    pos = np.round(rng.normal(0.7, 0.1, 200), 2)  # rounding makes ties, within and across the sets
    neg = np.round(rng.normal(0.5, 0.1, 300), 2)
    expected = mannwhitneyu(pos, neg, method="asymptotic").statistic / (len(pos) * len(neg))
    assert cal._auc(pos, neg) == pytest.approx(expected, abs=1e-12)
    assert cal._auc(np.array([1.0, 2.0]), np.array([0.0, 3.0])) == 0.5
    assert cal._auc(np.array([1.0]), np.array([1.0])) == 0.5
    assert cal._auc(np.array([2.0]), np.array([1.0])) == 1.0


# ---- the engine says so: a backend blind to this video's objects ------------------------------


def test_a_run_whose_backend_cannot_tell_objects_apart_warns_that_reid_was_off(tmp_path, caplog):
    """One vector plus a little noise whatever the crop (as a random-weight network gives): every
    crop looks alike, the calibration finds AUC ~0.5 and switches re-ID off, and the user sees why
    there are no re-identifications (stderr and run.json), not just a zero."""
    import json
    import logging

    from fakes import make_backend
    from orion_core.config import build_config
    from orion_core.engine import PerceptionEngine
    from orion_core.plugins import register_backend, reset_plugins, unregister_backend
    from orion_core.synthetic import make_scene

    rng = np.random.default_rng(0)
    register_backend("blind", make_backend(dim=DIM, result=lambda images: 1.0 + 0.01 * rng.normal(size=(len(images), DIM))))
    try:
        scene = make_scene(tmp_path / "scene", seed=0, frames=160, n_objects=6, textures="procedural")
        config = build_config(overrides={
            "embedding": {"backend": "blind", "policy": "all"},
            "detection": {"detector": "mot", "detections": str(scene.det_path), "label": "object"},
        })
        with caplog.at_level(logging.WARNING, logger="orion_core.engine"):
            result = PerceptionEngine(config).process_video(scene.video_path, out_dir=tmp_path / "runs")
    finally:
        unregister_backend("blind")
        reset_plugins()
    run = json.loads((result.path / "run.json").read_text())
    assert run["tracker"]["calibration"]["source"] == "uninformative"
    (warning,) = [w for w in run["warnings"] if w.startswith("re-identification was off")]
    assert "'blind'" in warning and "check the weights" in warning
    assert warning in caplog.text
    assert run["tracker"]["reidentified"] == 0  # the memory merged nothing
    assert result.counts["observations"] >= 0.9 * result.counts["detections"]  # tracking goes on, on motion
