"""Embed on demand: which detections of a frame need an appearance embedding at all.

Most boxes in most frames are matched by motion alone: one live track predicted right there,
high overlap, nothing else near. The tracker's cost for such a pair is dominated by the IoU
term anyway, and its appearance gate can only veto a match no other pairing could take.
Embedding them every frame (what DeepSORT does, and Orion's `all` policy) is most of the run
time with a CNN on a CPU; `EmbedPlanner` embeds them only every `refresh_frames` video frames
(so track galleries and memory stay fresh) and always embeds:

* boxes with no candidate track or several (new objects, crossings, groups),
* boxes that touch another detection or another track's predicted box (occlusions coming),
* boxes whose only candidate is tentative (its entity claim at confirmation needs a gallery),
  was missed last frame (after an occlusion its identity is in doubt), or was confirmed less
  than `young_frames` ago (memory's late re-identification window reads its gallery).

Boxes scored below `tracking.high_score` are never embedded: the tracker matches them by IoU
only (ByteTrack's second pass) and never learns from them, so their embedding would be unused.

Decisions need the tracker's state at frame t (after frame t-1), so the engine asks per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import TrackingConfig
from ..types import Detections, TrackedObject

# A motion match this sure (IoU of the prediction with the box) needs no appearance to confirm it.
# Below it the Kalman prediction is off (a turn, a stop) and appearance is what catches a swap.
SURE_IOU = 0.5
# Boxes overlapping each other more than this are judged together (an occlusion may be starting).
NEAR_IOU = 0.2
# In a group of several tracks and boxes, motion decides alone only when every rival pairing
# overlaps at least this much less than the pairs the motion assignment makes. 1.0 = never:
# only a lone track with a lone box skips. Chosen on PETS09 frames 1-400 (benchmarks/ondemand_sweep.py).
MARGIN = 0.4
# Inside memory's late re-ID window a young track is re-embedded this often (video frames): its
# gallery is what each late claim compares. Chosen on PETS09 frames 1-400 and the synthetic
# re-entry scenes (benchmarks/ondemand_sweep.py, benchmarks/synthetic_reid.py).
YOUNG_REFRESH = 2
# Why boxes were embedded (run.json "embedding_plan"), most basic first: a group of boxes is
# counted once, under the first reason any of its tracks has.
REASONS = ("tentative", "missed", "young", "refresh")
# Bookkeeping for tracks no longer live is dropped every this many frames (bounded memory).
PRUNE_EVERY = 64


@dataclass
class AssociationView:
    """Live tracks as the next `Tracker.update` will see them (read-only copies)."""

    boxes: np.ndarray  # (T, 4) xyxy Kalman predictions at the frame asked for
    labels: list[str]
    track_ids: np.ndarray  # (T,) reported track ids; 0 while a track is tentative
    confirmed: np.ndarray  # (T,) bool
    last_seen: np.ndarray  # (T,) video frame of the last match
    previous_frame: int | None  # the frame the tracker last processed

    def __len__(self) -> int:
        return len(self.boxes)


class EmbedPlanner:
    """Per frame, the mask of detections to embed; `observe` learns which tracks were refreshed."""

    def __init__(self, tracking: TrackingConfig, refresh_frames: int, young_frames: int = 0, sure_iou: float = SURE_IOU,
                 near_iou: float = NEAR_IOU, margin: float = MARGIN, young_refresh: int = YOUNG_REFRESH) -> None:
        self.tracking = tracking
        self.refresh_frames = int(refresh_frames)
        self.young_frames = int(young_frames)
        self.sure_iou = float(sure_iou)
        self.near_iou = float(near_iou)
        self.margin = float(margin)
        self.young_refresh = int(young_refresh)
        self._embedded_at: dict[int, int] = {}  # track id -> last video frame it got a fresh embedding
        self._reported_at: dict[int, int] = {}  # track id -> first frame it was reported (confirmed)
        self._calls = 0
        self.counts = {"boxes": 0, "embedded": 0, "skipped_low_score": 0, "skipped_sure_match": 0}

    def select(self, frame_index: int, view: AssociationView, detections: Detections) -> np.ndarray:
        """(N,) bool: which of this frame's detections to embed."""
        n = len(detections)
        cfg = self.tracking
        high = detections.scores >= cfg.high_score
        want = high.copy()
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:
            self._prune(view)
        if n and len(view):
            want &= ~self._sure_matches(frame_index, view, detections, high)
        elif high.any():
            self._count("new_object", int(high.sum()))
        self.counts["boxes"] += n
        self.counts["embedded"] += int(want.sum())
        self.counts["skipped_low_score"] += int((~high).sum())
        self.counts["skipped_sure_match"] += int((high & ~want).sum())
        return want

    def _sure_matches(self, frame_index: int, view: AssociationView, detections: Detections, high: np.ndarray) -> np.ndarray:
        """(N,) bool: high-score boxes that motion alone assigns beyond doubt, to recently embedded tracks.

        Tracks and boxes are linked where the tracker's gate lets them pair (IoU >= min_iou) and
        boxes where they overlap each other (IoU > near_iou). A linked group is sure when the
        motion-only assignment pairs every box at IoU >= sure_iou, with tracks that are confirmed,
        were matched last frame and were embedded lately (a track still lost stays unpaired), and
        every other pair in the group overlaps at least `margin` less than its sides' own matches.
        Such a group is left wholly unembedded, so the tracker scores all of its pairs by IoU alike
        and makes that assignment.
        """
        from scipy.optimize import linear_sum_assignment

        from .tracker import iou_matrix

        n_tracks, n_boxes = len(view), len(detections)
        boxes = detections.boxes.astype(np.float64)
        iou = iou_matrix(view.boxes, boxes)  # (T, N)
        if self.tracking.per_class:
            iou = np.where(np.array(view.labels, object)[:, None] == np.array(detections.labels, object)[None, :], iou, 0.0)
        pair = (iou >= self.tracking.min_iou) & high[None, :]
        overlap = (iou_matrix(boxes, boxes) > self.near_iou) & high[:, None] & high[None, :]
        np.fill_diagonal(overlap, False)
        # why a track needs its box embedded now, in order of precedence ("" = it does not)
        why = np.full(n_tracks, "", object)
        stage = np.array([self._stage(int(t), frame_index) for t in view.track_ids], object)
        why[stage != ""] = stage[stage != ""]
        missed = view.last_seen != view.previous_frame
        why[~view.confirmed] = "tentative"
        sure = np.zeros(n_boxes, bool)
        # Fast path (most boxes): a box alone, or one track and one box linked only to each other.
        boxes_per_track, tracks_per_box, overlaps = pair.sum(axis=1), pair.sum(axis=0), overlap.sum(axis=1)
        paired = np.argmax(pair, axis=0)
        lone = high & (tracks_per_box == 0) & (overlaps == 0)
        simple = high & (tracks_per_box == 1) & (overlaps == 0) & (boxes_per_track[paired] == 1)
        if lone.any():
            self._count("new_object", int(lone.sum()))
        for d in np.flatnonzero(simple):
            t = paired[d]
            reasons = [r for r in (why[t], "missed" if missed[t] else "") if r]
            reason = min(reasons, key=REASONS.index) if reasons else ("weak_motion" if iou[t, d] < self.sure_iou else "")
            if reason:
                self._count(reason, 1)
            else:
                sure[d] = True
        rest = high & ~lone & ~simple
        if not rest.any():
            return sure
        links = np.zeros((n_tracks + n_boxes, n_tracks + n_boxes), bool)
        links[:n_tracks, n_tracks:] = pair
        links[n_tracks:, :n_tracks] = pair.T
        links[n_tracks:, n_tracks:] = overlap
        group = _components(links)
        track_group, box_group = group[:n_tracks], group[n_tracks:]
        for g in np.unique(box_group[rest]):
            tracks, dets = np.flatnonzero(track_group == g), np.flatnonzero(box_group == g)
            if len(tracks) < len(dets):
                self._count("new_object", len(dets))
                continue
            allowed = pair[np.ix_(tracks, dets)]
            sub = iou[np.ix_(tracks, dets)]
            rows, cols = linear_sum_assignment(np.where(allowed, 1.0 - sub, 1e6))
            keep = allowed[rows, cols]
            rows, cols = rows[keep], cols[keep]
            # Tracks motion would pair with a box decide; a lost track still unseen only competes (below).
            reasons = [r for r in why[tracks[rows]] if r] + ["missed"] * int(missed[tracks[rows]].any())
            if reasons:
                self._count(min(reasons, key=REASONS.index), len(dets))
                continue
            if len(rows) != len(dets) or sub[rows, cols].min() < self.sure_iou:
                self._count("weak_motion", len(dets))
                continue
            own_track, own_box = np.zeros(len(tracks)), np.empty(len(dets))  # a track left unpaired owns nothing
            own_track[rows], own_box[cols] = sub[rows, cols], sub[rows, cols]
            rival = allowed.copy()
            rival[rows, cols] = False
            limit = np.where(own_track[:, None] > 0, np.minimum(own_track[:, None], own_box[None, :]), own_box[None, :]) - self.margin
            if (sub[rival] > limit[rival]).any():
                self._count("ambiguous", len(dets))  # a crossing or a close group: appearance must decide
                continue
            sure[dets] = True
        return sure

    def _stage(self, track_id: int, frame_index: int) -> str:
        """"young" within memory's late re-ID window, "refresh" when due, "" when its embedding is fresh."""
        embedded = self._embedded_at.get(track_id)
        reported = self._reported_at.get(track_id)
        if track_id == 0 or reported is None or embedded is None:
            return "young"
        if frame_index - reported <= self.young_frames:
            return "young" if frame_index - embedded >= self.young_refresh else ""
        if frame_index - embedded >= self.refresh_frames:
            return "refresh"
        return ""

    def _count(self, reason: str, boxes: int) -> None:
        key = f"embedded_{reason}"
        self.counts[key] = self.counts.get(key, 0) + boxes

    def observe(self, frame_index: int, objects: list[TrackedObject], embedded: np.ndarray | None) -> None:
        """After `Tracker.update`: remember which reported tracks got a fresh embedding this frame."""
        for obj in objects:
            self._reported_at.setdefault(obj.track_id, frame_index)
            if embedded is not None and embedded[obj.det_index]:
                self._embedded_at[obj.track_id] = frame_index

    def _prune(self, view: AssociationView) -> None:
        live = set(view.track_ids.tolist())
        for book in (self._embedded_at, self._reported_at):
            for track_id in [t for t in book if t not in live]:
                del book[track_id]


def _components(links: np.ndarray) -> np.ndarray:
    """Connected-component label of each node of a small symmetric boolean graph.

    Transitive closure by repeated squaring (log2(n) tiny products): for the ~10 nodes of a frame's
    crowded part, 10x cheaper than building a scipy sparse graph.
    """
    reach = links | np.eye(len(links), dtype=bool)
    while True:
        wider = (reach.astype(np.uint8) @ reach.astype(np.uint8)) > 0
        if (wider == reach).all():
            return np.argmax(reach, axis=1)  # lowest node of the component: its label
        reach = wider
