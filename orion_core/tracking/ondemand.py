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
# "Nothing else near": no other track's prediction and no other detection overlaps the box more
# than this (at the tracker's gate, tracking.min_iou = 0.2, a second track inside the gate is a
# second candidate). Chosen on PETS09 frames 1-400 (benchmarks/ondemand_sweep.py).
NEAR_IOU = 0.2
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
                 near_iou: float = NEAR_IOU) -> None:
        self.tracking = tracking
        self.refresh_frames = int(refresh_frames)
        self.young_frames = int(young_frames)
        self.sure_iou = float(sure_iou)
        self.near_iou = float(near_iou)
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
        self.counts["boxes"] += n
        self.counts["embedded"] += int(want.sum())
        self.counts["skipped_low_score"] += int((~high).sum())
        self.counts["skipped_sure_match"] += int((high & ~want).sum())
        return want

    def _sure_matches(self, frame_index: int, view: AssociationView, detections: Detections, high: np.ndarray) -> np.ndarray:
        """(N,) bool: high-score boxes that motion alone matches beyond doubt, to a recently embedded track."""
        from .tracker import iou_matrix

        boxes = detections.boxes.astype(np.float64)
        iou = iou_matrix(view.boxes, boxes)  # (T, N)
        if self.tracking.per_class:
            iou = np.where(np.array(view.labels, object)[:, None] == np.array(detections.labels, object)[None, :], iou, 0.0)
        # competitors: pairs overlapping more than near_iou (by default the tracker's own gate, min_iou)
        gate = (iou > self.near_iou) & high[None, :]
        one_track = gate.sum(axis=0) == 1  # exactly one track near the box ...
        track = np.argmax(gate, axis=0)
        one_box = gate.sum(axis=1)[track] == 1  # ... and no other box near that track
        det_overlap = iou_matrix(boxes, boxes) > self.near_iou
        np.fill_diagonal(det_overlap, False)
        alone = ~det_overlap.any(axis=1)  # and no other detection overlapping the box
        strong = iou[track, np.arange(len(boxes))] >= self.sure_iou
        steady = view.confirmed[track] & (view.last_seen[track] == view.previous_frame)
        fresh = np.array([self._fresh(int(view.track_ids[t]), frame_index) for t in track], bool)
        return one_track & one_box & alone & strong & steady & fresh

    def _fresh(self, track_id: int, frame_index: int) -> bool:
        embedded = self._embedded_at.get(track_id)
        reported = self._reported_at.get(track_id)
        if track_id == 0 or embedded is None or reported is None:
            return False
        return frame_index - embedded < self.refresh_frames and frame_index - reported > self.young_frames

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
