"""Online tracker: Kalman motion, Hungarian assignment, appearance, ByteTrack's low-score pass.

Each frame runs these association passes, each a `linear_sum_assignment` on a gated cost (in
passes 1 and 2 a track or a box may also stay unmatched, at half the gate's largest cost each,
as in ByteTrack's solver: see `assign`):

1. tracks vs high-score detections, confirmed tracks first, then tentative ones on what is
   left: `w * appearance + (1 - w) * (1 - IoU)` where both sides have an embedding, plain
   `1 - IoU` otherwise; gated by IoU, appearance and class. With `tracking.appearance_ties`
   (off by default), appearance differences below the noise of a true match are ties
   (`appearance_ties`), so motion decides between look-alikes.
2. confirmed tracks seen last frame vs low-score detections, IoU only (ByteTrack): occluded
   objects get low scores, and their boxes still carry the motion. Their embeddings, likely
   polluted by the occluder, are not learned.
3. confirmed tracks still unmatched vs high-score detections left: appearance (best match in
   the track's gallery) inside a loose spatial gate around the last seen *or* predicted centre.
   This recovers objects after an occlusion, when the Kalman prediction has drifted off.

Track state lives in dense numpy arrays (one row per track) so that the filter, the IoU and
the cost matrices are single vectorised calls; Python loops only touch the matched rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..config import DEFAULT_FPS, TrackingConfig
from ..types import Detections, TrackedObject
from . import calibration as cal
from . import kalman
from .calibration import ReidCalibration
from .cmc import warp_boxes, warp_states  # noqa: F401  (also imported from here by callers)
from .gallery import EmbeddingRing, best_views, stack_rings
from .memory import DEFAULT_REID_THRESHOLD, ClaimRequest, EntityMemory

SPEED_MIN_HITS = 5  # observations before a track's Kalman velocity counts as a measured speed
DUPLICATE_IOU = 0.5  # two tracks' boxes overlapping this much may be one object (`_end_duplicates`)
_GATED = 1e6  # cost of a forbidden pair: the solver avoids it whenever any allowed pairing exists
_FIRST, _LOW, _RECOVERED = 1, 2, 3  # which pass matched a track


def _where(mask: np.ndarray) -> np.ndarray:
    """Indices of the True entries of a 1-D mask: `np.flatnonzero` without its ravel wrapper, which
    cost ~1 us of its ~1.1 per call, at ~25 calls a frame."""
    return mask.nonzero()[0]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of xyxy boxes (2-D temporaries only: 4x faster than 3-D;
    in place where it can be: at 50x50 each new temporary costs about as much as the arithmetic)."""
    inter = _intersection(a, b)
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None] + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union -= inter
    inter /= np.maximum(union, 1e-9, out=union)
    return inter


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection areas of xyxy boxes (a new array, free to be overwritten)."""
    w = np.minimum(a[:, 2, None], b[:, 2])
    w -= np.maximum(a[:, 0, None], b[:, 0])
    h = np.minimum(a[:, 3, None], b[:, 3])
    h -= np.maximum(a[:, 1, None], b[:, 1])
    np.maximum(w, 0.0, out=w)
    w *= np.maximum(h, 0.0, out=h)
    return w


def ioa_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection of xyxy boxes over the area of each box of `a`: how much of
    it the box of `b` covers."""
    inter = _intersection(a, b)
    inter /= np.maximum((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 1e-9)[:, None]
    return inter


def covered_fraction(boxes: np.ndarray) -> np.ndarray:
    """(n,) largest fraction of each box covered by one other box (0 when alone)."""
    n = len(boxes)
    if n < 2:
        return np.zeros(n)
    ioa = ioa_matrix(boxes, boxes)
    np.fill_diagonal(ioa, 0.0)
    return ioa.max(axis=1)


def appearance_ties(distance: np.ndarray, pr: np.ndarray, pc: np.ndarray, ok: np.ndarray, margin: float) -> np.ndarray:
    """Appearance term of each candidate pair, with differences below `margin` counted as ties.

    `distance[k]` is the appearance distance of pair (`pr[k]`, `pc[k]`); `ok` marks the pairs
    that are real candidates (inside the gates). A pair's reference is the best candidate
    distance of its track (row) or of its detection (column), whichever is lower. A pair less
    than `margin` (the noise of a true match's similarity) worse than its reference takes the
    reference's value: between such competitors the appearance terms are equal and the motion
    term decides. A pair worse by `margin` or more keeps its distance (appearance separates).
    Pairs not in `ok` are neither competitors nor changed.
    """
    out = distance.astype(np.float64, copy=True)
    if margin <= 0 or not ok.any():
        return out
    row_best = np.full(int(pr.max()) + 1, np.inf)
    col_best = np.full(int(pc.max()) + 1, np.inf)
    np.minimum.at(row_best, pr[ok], distance[ok])
    np.minimum.at(col_best, pc[ok], distance[ok])
    reference = np.minimum(row_best[pr[ok]], col_best[pc[ok]])
    d = distance[ok]
    out[ok] = np.where(d - reference < margin, reference, d)
    return out


def assign(cost: np.ndarray, allowed: np.ndarray, limit: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching restricted to `allowed` pairs; returns (rows, cols) of kept pairs.

    Without `limit` the solver matches as many allowed pairs as it can, then minimises cost. With
    `limit` (the largest cost the gate allows) a row or column may also stay unmatched, at half
    the limit each, as ByteTrack's and BoT-SORT's solver (lapjv with `cost_limit`) does. The two
    differ where tracks compete: a lost track whose drifted prediction only reaches the box of
    the person in front no longer forces that person's own track onto the box of the one coming
    out from behind it (a swap); the lost track stays unmatched for the later passes instead.
    Rows and columns without any allowed pair are left out before solving, and pairs that are
    each other's only option are matched directly, which keeps the problem small.
    """
    row_options, col_options = allowed.sum(axis=1), allowed.sum(axis=0)
    rows, cols = _where(row_options > 0), _where(col_options > 0)
    if len(rows) == 0:
        return rows, cols
    # Usually every row and column has a candidate: then no copy at all (the np.ix_ gathers were
    # ~40% of this function at 50 objects).
    whole = len(rows) == allowed.shape[0] and len(cols) == allowed.shape[1]
    sub_allowed = allowed if whole else allowed[rows][:, cols]
    if limit is None:
        r, c = linear_sum_assignment(np.where(sub_allowed, cost if whole else cost[rows][:, cols], _GATED))
        keep = sub_allowed[r, c]
        return rows[r[keep]], cols[c[keep]]
    # Dropping empty rows and columns leaves the others' option counts as they were.
    lone = sub_allowed & (row_options[rows] == 1)[:, None] & (col_options[cols] == 1)[None, :]
    lone_r, lone_c = np.nonzero(lone)
    taken_r, taken_c = np.zeros(len(rows), bool), np.zeros(len(cols), bool)
    taken_r[lone_r], taken_c[lone_c] = True, True
    rest_r, rest_c = _where(~taken_r), _where(~taken_c)
    n, m = len(rest_r), len(rest_c)
    if n and m:
        extended = np.full((n + m, m + n), _GATED)
        picked = (rows[rest_r][:, None], cols[rest_c][None, :])  # the cost of the contested pairs only
        extended[:n, :m] = np.where(sub_allowed[rest_r][:, rest_c], cost[picked], _GATED)
        extended[np.arange(n), m + np.arange(n)] = limit / 2.0  # row i left unmatched
        extended[n + np.arange(m), np.arange(m)] = limit / 2.0  # column j left unmatched
        extended[n:, m:] = 0.0
        r, c = linear_sum_assignment(extended)
        pair = (r < n) & (c < m)
        r, c = rest_r[r[pair]], rest_c[c[pair]]
        keep = sub_allowed[r, c]
        lone_r, lone_c = np.r_[lone_r, r[keep]], np.r_[lone_c, c[keep]]
    return rows[lone_r], cols[lone_c]


class Backfill(NamedTuple):
    """An observation a track made while tentative, handed over when it confirms (`take_backfill`)."""

    frame_index: int
    obj: TrackedObject
    embedding: np.ndarray | None


@dataclass
class _Track:
    """What a track keeps besides its numeric rows in the tracker's arrays."""

    uid: int
    label: str
    first_frame: int
    track_id: int = 0  # given at confirmation, so reported ids have no gaps
    entity_id: int = 0
    gallery: EmbeddingRing | None = None
    confirmed_frame: int = -1
    founded: bool = False  # its entity was new at confirmation: memory may still recognise it (late_claim)
    displaced: bool = False  # lost while a new track took its entity: needs an entity when seen again
    lost_entity: int = 0  # the entity it held before it was displaced
    origin: tuple[float, float] | None = None  # first box centre (pixels)
    travelled: bool = False  # has been a box height away from `origin`: a moving object
    early: list[Backfill] | None = None  # observations while tentative (`take_backfill`)
    confuser: float = -np.inf  # best match another object's crop, seen beside it, found in its gallery


class Tracker:
    """Frame-by-frame tracker; `update` returns the confirmed tracks observed in that frame.

    Ages count video frames (`frame_index` differences); `fps` (the video's declared rate)
    turns the config's seconds into frames. With `memory`, reported ids are entity ids that
    survive a track's end; without it, `entity_id == track_id`. `reid_threshold` is the prior
    of the per-video calibration (default: the memory's, else 0.75); the calibration lives
    here, not in the memory, so that `--no-memory` changes nothing in online tracking.
    `clips` (optional, see `tracking.clips.ClipBank`) gives claims a clip embedding.
    """

    def __init__(
        self,
        config: TrackingConfig | None = None,
        memory: EntityMemory | None = None,
        fps: float | None = None,
        reid_threshold: float | None = None,
        clips=None,
    ) -> None:
        self.config = config or TrackingConfig()
        self.memory = memory
        self.fps = fps if fps is not None and fps > 0 else DEFAULT_FPS
        self.max_age = self.config.max_age_frames(self.fps)
        self._noise_rate = kalman.noise_rate(1.0 / self.fps, self.config.kalman_noise_fps)
        self.duplicate_frames = max(3, round(self.config.duplicate_s * self.fps)) if self.config.duplicate_s > 0 else 0
        if reid_threshold is None:
            reid_threshold = memory.reid_threshold if memory is not None else DEFAULT_REID_THRESHOLD
        self.calibration = ReidCalibration(reid_threshold, enabled=self.config.calibrate)
        if memory is not None:
            memory.calibration = self.calibration
        self.clips = clips
        # Tentative observations are kept only for the offline pass to add (`take_backfill`).
        self._keep_early = bool(self.config.offline and self.config.offline_backfill)
        self._backfill: list[Backfill] = []
        self._fresh = np.zeros(0, np.int64)
        self._fresh_crops: list[np.ndarray] = []
        self._confirmed_now = np.zeros(0, np.int64)
        self._rng = np.random.default_rng(0)
        self._dim: int | None = None  # embedding size, fixed by the first embeddings seen
        self._reset_tracks()
        self._codes: dict[str, int] = {}
        self._next_uid = 1
        self._next_track_id = 1
        self.counts = {
            "frames": 0,
            "detections": 0,
            "tracks_started": 0,
            "tracks_confirmed": 0,
            "tracks_ended": 0,
            "second_pass_matches": 0,
            "recovered_by_appearance": 0,
            "recoveries_refused_by_confuser": 0,
            "reidentified": 0,
            "covered_crops_not_learned": 0,
            "displaced_kept": 0,
            "camera_compensated_frames": 0,
            "duplicates_ended": 0,
            "track_covered_crops_not_learned": 0,
        }

    def _reset_tracks(self) -> None:
        self._tracks: list[_Track] = []
        self._mean = np.zeros((0, 8))
        self._cov = np.zeros((0, 8, 8))
        self._label = np.zeros(0, np.int64)
        self._last_seen = np.zeros(0, np.int64)
        self._hits = np.zeros(0, np.int64)
        self._confirmed = np.zeros(0, bool)
        self._last_box = np.zeros((0, 4))
        self._ema = None if self._dim is None else np.zeros((0, self._dim), np.float32)  # (T, D) unit rows
        self._has_ema = np.zeros(0, bool)
        self._prev_frame: int | None = None
        self._frames_seen = 0
        self._frame_step = 1  # video frames since the previous update (the EMA's time step)
        # (older uid, younger uid) -> [frames overlapping, older matched, younger matched, both matched]
        self._overlaps: dict[tuple[int, int], list[int]] = {}

    @property
    def stats(self) -> dict:
        stats = dict(self.counts)
        stats["active_tracks"] = int(self._confirmed.sum())
        stats["tentative_tracks"] = int(len(self._tracks) - self._confirmed.sum())
        stats["max_age_frames"] = self.max_age
        stats["fps"] = self.fps
        stats["kalman_noise_rate"] = self._noise_rate  # noise per frame, in frames at tracking.kalman_noise_fps
        stats["calibration"] = self.calibration.stats
        if not self.config.appearance_ties:  # not used, and not fitted (no samples): do not show the prior
            stats["calibration"]["tie_margin"] = None
        if self.memory is not None:
            stats["memory"] = self.memory.stats
        return stats

    # ---- the frame step -------------------------------------------------------------------

    def update(
        self,
        frame_index: int,
        detections: Detections,
        embeddings: np.ndarray | None = None,
        has_embedding: np.ndarray | None = None,
        warp: np.ndarray | None = None,
        image: np.ndarray | None = None,
        view_changed: bool = False,
    ) -> list[TrackedObject]:
        """Advance to `frame_index` (strictly increasing) and associate this frame's detections.

        `embeddings` are (N, D) rows aligned with `detections`; rows where `has_embedding` is
        False are ignored and those detections are matched by motion alone. `warp` is the
        camera's 2x3 affine from the previous frame to this one (`tracking.cmc`), applied to
        every state before association. `image` (RGB) feeds `clips` when the tracker has them.
        `view_changed`: the camera's view could not be followed from the previous frame (a cut):
        where entities were last seen says nothing about where they are now (memory speed limit).
        """
        frame_index = int(frame_index)
        if self._prev_frame is not None and frame_index <= self._prev_frame:
            raise ValueError(f"Tracker.update: frame_index {frame_index} does not follow {self._prev_frame}")
        det_emb, det_has = self._detection_embeddings(detections, embeddings, has_embedding)
        self._backfill = []  # what the last update handed over and nobody took: a library user of update alone
        self._fresh = np.zeros(0, np.int64)  # rows whose gallery learned a crop this frame (`_learn_confusers`)
        self._fresh_crops = []  # ... and those crops, in that order
        self._frame = frame_index
        dt = 1 if self._prev_frame is None else frame_index - self._prev_frame
        self._frame_step = dt
        self._frames_seen += 1
        self.counts["frames"] += 1
        self.counts["detections"] += len(detections)
        self._predict(dt)
        if warp is not None:
            self._mean, self._cov = warp_states(self._mean, self._cov, np.asarray(warp, np.float64))
            self._last_box = warp_boxes(self._last_box, np.asarray(warp, np.float64))
            if self.memory is not None:
                self.memory.warp(warp)
            self.counts["camera_compensated_frames"] += 1
        if view_changed and self.memory is not None:
            self.memory.forget_positions()

        boxes = detections.boxes.astype(np.float64)
        if det_has is not None and self.config.gallery_max_overlap < 1.0:
            # Crops mostly showing another object must not teach any gallery who this one is.
            clean = covered_fraction(boxes) <= self.config.gallery_max_overlap
            self.counts["covered_crops_not_learned"] += int((det_has & ~clean).sum())
            det_learn = det_has & clean
        else:
            det_learn = det_has
        det_label = self._label_codes(detections.labels)
        high = detections.scores >= self.config.high_score
        low = (detections.scores >= self.config.low_score) & ~high
        track_det = np.full(len(self._tracks), -1, np.int64)
        via = np.zeros(len(self._tracks), np.int8)
        det_free = np.ones(len(detections), bool)

        def link(rows: np.ndarray, dets: np.ndarray, pass_id: int) -> None:
            track_det[rows] = dets
            via[rows] = pass_id
            det_free[dets] = False

        # Confirmed tracks choose first, as in ByteTrack: a tentative track born on a duplicate box
        # must not take the detection of the object it duplicates.
        link(*self._first_pass(self._confirmed, boxes, det_label, high, det_emb, det_has), _FIRST)
        link(*self._first_pass(~self._confirmed, boxes, det_label, high & det_free, det_emb, det_has), _FIRST)
        rows, dets = self._low_pass(boxes, det_label, low & det_free, track_det)
        link(rows, dets, _LOW)
        self.counts["second_pass_matches"] += len(rows)
        if det_emb is not None:
            rows, dets = self._recovery_pass(boxes, det_label, high & det_free & det_has, track_det, det_emb)
            link(rows, dets, _RECOVERED)
            self.counts["recovered_by_appearance"] += len(rows)

        if det_learn is not None and self.config.cover_by_tracks and self.config.gallery_max_overlap < 1.0:
            covered = self._covered_by_tracks(boxes, track_det) & det_learn
            self.counts["track_covered_crops_not_learned"] += int(covered.sum())
            det_learn = det_learn & ~covered
        det_ema = det_learn if self.config.ema_skips_covered else det_has
        self._apply_matches(frame_index, boxes, track_det, via, det_emb, det_ema, det_learn)
        remove = self._end_stale(frame_index, track_det)
        if self.duplicate_frames:
            remove |= self._end_duplicates(track_det, remove)
        births = _where(high & det_free)
        self._start(frame_index, births, boxes, det_label, detections.labels, det_emb, det_ema, det_learn)
        track_det = np.concatenate([track_det, births])
        via = np.concatenate([via, np.full(len(births), _FIRST, np.int8)])
        remove = np.concatenate([remove, np.zeros(len(births), bool)])
        if self.clips is not None and image is not None:
            seen = _where(track_det >= 0)
            self.clips.observe([self._tracks[r].uid for r in seen], frame_index, image, boxes[track_det[seen]],
                               det_learn[track_det[seen]] if det_learn is not None else np.ones(len(seen), bool))
        self._confirm_ready(frame_index, remove)
        reported = self._report(frame_index, detections, track_det, via, det_emb, det_learn, remove)
        if self._keep_early:
            self._keep_tentative(frame_index, detections, embeddings, has_embedding, track_det, remove)
        self._calibrate(frame_index, remove)
        self._learn_confusers(frame_index, remove)
        self._sample_speeds(frame_index, remove)
        self._drop(remove)
        self._prev_frame = frame_index
        return reported

    def take_backfill(self) -> list[Backfill]:
        """(frame_index, observation, embedding) of the tracks the last `update` confirmed, made
        while they were tentative (the first `min_hits - 1`), with the ids they were confirmed
        under; the embedding is the row `update` was given (None where it had none).

        The offline pass adds them: they are real detections the online output reported no
        track for. Empty unless `tracking.offline` and `tracking.offline_backfill` are on."""
        out, self._backfill = self._backfill, []
        return out

    def _keep_tentative(self, frame_index: int, detections: Detections, embeddings, has_embedding, track_det: np.ndarray,
                        remove: np.ndarray) -> None:
        """Remember this frame's observation of every tentative track (dropped with the track if
        it never confirms; a tentative track that misses a frame ends, so at most min_hits - 1)."""
        rows = _where(~self._confirmed & (self._last_seen == frame_index) & ~remove)
        if len(rows) == 0:
            return
        dets = track_det[rows]
        states = kalman.state_to_xyxy(self._mean[rows])
        for r, d, box, score, state in zip(rows.tolist(), dets.tolist(), detections.boxes[dets], detections.scores[dets].tolist(), states):
            track = self._tracks[r]
            if track.early is None:
                track.early = []
            vector = None
            if embeddings is not None and (has_embedding is None or has_embedding[d]):
                vector = np.array(embeddings[d], np.float32)  # a copy: the caller may reuse its buffer
            track.early.append(Backfill(frame_index, TrackedObject(0, 0, box, score, detections.labels[d], -1, state), vector))

    def association_view(self, frame_index: int):
        """Read-only: the live tracks as `update(frame_index, ...)` will see them (Kalman predictions).

        For deciding which detections need an embedding before that update (`ondemand.EmbedPlanner`).
        """
        from .ondemand import AssociationView

        mean = self._mean.copy()
        if self._prev_frame is not None:
            mean[self._last_seen < self._prev_frame, 6:8] = 0.0  # as _predict does for lost tracks
        dt = 1 if self._prev_frame is None else int(frame_index) - self._prev_frame
        predicted, _ = kalman.predict(mean, self._cov, float(dt), self._noise_rate)
        return AssociationView(
            boxes=kalman.state_to_xyxy(predicted),
            labels=[t.label for t in self._tracks],
            track_ids=np.array([t.track_id for t in self._tracks], np.int64),
            confirmed=self._confirmed.copy(),
            last_seen=self._last_seen.copy(),
            previous_frame=self._prev_frame,
        )

    def finish(self) -> None:
        """End of video: every confirmed track ends (its entity goes dormant); the tracker resets."""
        for row in _where(self._confirmed):
            self._end_track(row)
        if self.clips is not None:
            self.clips.reset()
        self._reset_tracks()

    # ---- association passes ---------------------------------------------------------------

    def _class_gate(self, rows: np.ndarray, det_label: np.ndarray) -> np.ndarray | bool:
        if not self.config.per_class:
            return True
        return self._label[rows][:, None] == det_label[None, :]

    def _first_pass(self, track_mask, boxes, det_label, high, det_emb, det_has) -> tuple[np.ndarray, np.ndarray]:
        rows = _where(track_mask)
        dets = _where(high)
        if len(rows) == 0 or len(dets) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        iou = iou_matrix(kalman.state_to_xyxy(self._mean[rows]), boxes[dets])
        allowed = (iou >= self.config.min_iou) & self._class_gate(rows, det_label[dets])
        cost = 1.0 - iou
        if det_emb is not None and self._ema is not None:
            # Appearance only for pairs the motion gate let through: linear in the objects, and
            # no small BLAS matmul (slow when its threads compete with the embedder's).
            gate = self.appearance_gate()
            w = self.config.appearance_weight
            pr, pc = np.nonzero(allowed & self._has_ema[rows, None] & det_has[dets][None, :])
            distance = 1.0 - np.einsum("ij,ij->i", self._ema[rows[pr]], det_emb[dets[pc]])
            # One cost scale for every pair: where either side has no embedding, the appearance
            # term is imputed as half the gate (neither a perfect nor the worst acceptable match),
            # instead of mixing plain 1 - IoU with the fused cost in one assignment.
            if self.config.impute_missing_appearance:
                cost *= 1.0 - w
                cost += w * (0.5 * gate)
            ok = distance <= gate
            term = distance
            if self.config.appearance_ties:
                term = appearance_ties(distance, pr, pc, ok, self.calibration.tie_margin())
            cost[pr, pc] = w * term + (1.0 - w) * (1.0 - iou[pr, pc])
            allowed[pr, pc] = ok
            limit = w * gate + (1.0 - w) * (1.0 - self.config.min_iou)  # the worst pair both gates pass
            if not self.config.impute_missing_appearance:
                limit = max(limit, 1.0 - self.config.min_iou)  # plain 1 - IoU pairs
            r, c = assign(cost, allowed, limit)
            # Motion-confident matches tell what a true match's distance looks like (gate fit, every
            # frame) and, track by track, how much it varies from crop to crop (the tie margin). A
            # match with an embedding on both sides is one of the (pr, pc) pairs: its distance is known.
            pair_distance = np.full(iou.shape, np.nan)
            pair_distance[pr, pc] = distance
            sure_distance = pair_distance[r, c]
            sure = (iou[r, c] >= cal.CONFIDENT_IOU) & ~np.isnan(sure_distance)
            if sure.any():
                self.calibration.add_match_distances(sure_distance[sure])
                if self.config.appearance_ties and self.counts["frames"] % cal.SAMPLE_EVERY == 0:
                    uids = [self._tracks[k].uid for k in rows[r[sure]]]
                    self.calibration.add_match_changes(sure_distance[sure], uids, self._frame)
            return rows[r], dets[c]
        r, c = assign(cost, allowed, 1.0 - self.config.min_iou)
        return rows[r], dets[c]

    def _covered_by_tracks(self, boxes: np.ndarray, track_det: np.ndarray) -> np.ndarray:
        """(n_detections,) True where a matched box is covered by another live confirmed track's
        predicted box by more than `gallery_max_overlap` of its area.

        The detection-only test misses two common cases: a box drawn around two people (a merged
        detection), and a person in front of one the detector no longer finds. Both crops show
        someone else as well, and nothing but that other person's track says so. Such crops stay
        out of galleries (recovery, memory, calibration), not out of the short-term EMA (see
        `ema_skips_covered`: an EMA that skips crowded crops goes stale where it is needed).
        """
        out = np.zeros(len(boxes), bool)
        matched = _where(track_det >= 0)
        others = _where(self._confirmed & (self._frame - self._last_seen <= self.max_age))
        if len(matched) == 0 or len(others) < 2:
            return out
        predicted = kalman.state_to_xyxy(self._mean[others])  # before this frame's update
        ioa = ioa_matrix(boxes[track_det[matched]], predicted)
        ioa[matched[:, None] == others[None, :]] = 0.0  # a box is not covered by its own track
        out[track_det[matched]] = ioa.max(axis=1) > self.config.gallery_max_overlap
        return out

    def appearance_gate(self) -> float:
        """First-pass appearance gate: configured, else fitted on this video (calibration)."""
        if self.config.max_appearance_distance is not None:
            return self.config.max_appearance_distance
        return self.calibration.appearance_gate()

    def _low_pass(self, boxes, det_label, low, track_det) -> tuple[np.ndarray, np.ndarray]:
        dets = _where(low)
        rows = _where(self._confirmed & (track_det < 0) & (self._last_seen == self._prev_frame))
        if len(rows) == 0 or len(dets) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        iou = iou_matrix(kalman.state_to_xyxy(self._mean[rows]), boxes[dets])
        allowed = (iou >= self.config.low_min_iou) & self._class_gate(rows, det_label[dets])
        r, c = assign(1.0 - iou, allowed, 1.0 - self.config.low_min_iou)
        return rows[r], dets[c]

    def _recovery_pass(self, boxes, det_label, free, track_det, det_emb) -> tuple[np.ndarray, np.ndarray]:
        dets = _where(free)
        rows = np.array(
            [r for r in _where(self._confirmed & (track_det < 0)) if self._tracks[r].gallery is not None],
            np.int64,
        )
        if len(rows) == 0 or len(dets) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        allowed = self._near(rows, boxes[dets]) & self._class_gate(rows, det_label[dets])
        pr, pc = np.nonzero(allowed)
        if len(pr) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        candidates, pair_row = np.unique(pr, return_inverse=True)  # only tracks with a nearby detection
        galleries, counts = stack_rings([self._tracks[r].gallery for r in rows[candidates]])
        distance = 1.0 - best_views(galleries[pair_row], counts[pair_row], det_emb[dets[pc]])
        limits = {}
        for r in rows:
            label = self._tracks[r].label
            if label not in limits:
                limits[label] = self._recovery_limit(label)
        limit = np.array([limits[self._tracks[r].label] for r in rows])
        passes = distance <= limit[pr]
        # A crop must also beat every other object seen beside the track (`_learn_confusers`):
        # below that, the video has shown a different object looking this much like it.
        confuser = np.array([self._tracks[r].confuser for r in rows])  # -inf: none seen, or the rule is off
        beats = distance < 1.0 - confuser[pr]
        self.counts["recoveries_refused_by_confuser"] += int((passes & ~beats).sum())
        allowed[pr, pc] = passes & beats
        cost = np.ones(allowed.shape)
        cost[pr, pc] = distance
        r, c = assign(cost, allowed)
        return rows[r], dets[c]

    def _recovery_limit(self, label: str) -> float:
        """Appearance distance a lost track may be recovered at: the calibrated single-crop bar.

        The tracker's own calibration (not the memory's), so `--no-memory` recovers the same.
        A class override in the memory config still applies when there is a memory.
        """
        if self.config.recovery_max_distance is not None:
            return self.config.recovery_max_distance
        if self.memory is not None and label in self.memory.config.class_thresholds:
            return 1.0 - float(self.memory.config.class_thresholds[label])
        return 1.0 - self.calibration.recovery_bar()

    def _near(self, rows: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
        """Loose gate around where the track was, or is predicted: it widens with the time lost.

        `recovery_radius` box sides, plus `recovery_growth` box sides per second unseen: an
        object can be further from where it vanished the longer it has been gone.
        """
        centres = (det_boxes[:, :2] + det_boxes[:, 2:]) / 2.0
        last = self._last_box[rows]
        last_centres = (last[:, :2] + last[:, 2:]) / 2.0
        side = np.maximum(last[:, 2] - last[:, 0], last[:, 3] - last[:, 1])
        lost_s = (self._frame - self._last_seen[rows]) / self.fps
        radius = (self.config.recovery_radius + self.config.recovery_growth * lost_s) * side
        to_last = np.linalg.norm(centres[None, :, :] - last_centres[:, None, :], axis=2)
        to_pred = np.linalg.norm(centres[None, :, :] - self._mean[rows, None, :2], axis=2)
        return np.minimum(to_last, to_pred) <= radius[:, None]

    # ---- state changes --------------------------------------------------------------------

    def _predict(self, dt: int) -> None:
        if self._prev_frame is not None:
            # Lost boxes keep moving but stop resizing, else they shrink or balloon while unseen.
            lost = self._last_seen < self._prev_frame
            self._mean[lost, 6:8] = 0.0
        self._mean, self._cov = kalman.predict(self._mean, self._cov, float(dt), self._noise_rate)

    def _apply_matches(self, frame_index, boxes, track_det, via, det_emb, det_has, det_learn) -> None:
        matched = _where(track_det >= 0)
        if len(matched) == 0:
            return
        measured = boxes[track_det[matched]]
        # A recovered track's prediction drifted during the occlusion; restart its motion there.
        restart = via[matched] == _RECOVERED
        upd = matched[~restart]
        self._mean[upd], self._cov[upd] = kalman.update(self._mean[upd], self._cov[upd], measured[~restart])
        if restart.any():
            self._mean[matched[restart]], self._cov[matched[restart]] = kalman.initiate(measured[restart], self._noise_rate)
        self._last_box[matched] = measured
        self._last_seen[matched] = frame_index
        self._hits[matched] += 1
        if det_emb is not None:
            learn = matched[(via[matched] != _LOW) & det_has[track_det[matched]]]
            self._learn_appearance(learn, det_emb[track_det[learn]], det_learn[track_det[learn]])

    def _learn_appearance(self, rows: np.ndarray, emb: np.ndarray, to_gallery: np.ndarray | None = None) -> None:
        """EMA (short-term, first pass) from every usable crop; the gallery (recovery, memory,
        calibration) only from `to_gallery` ones: crops not covered by another box."""
        if len(rows) == 0:
            return
        m = self.config.ema_momentum_for(self._frame_step / self.fps)
        mixed = np.where(self._has_ema[rows, None], m * self._ema[rows] + (1.0 - m) * emb, emb)
        self._ema[rows] = mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
        self._has_ema[rows] = True
        keep = [True] * len(rows) if to_gallery is None else np.asarray(to_gallery, bool).tolist()
        if self.config.recovery_confusers:  # the only reader of this frame's new gallery crops
            learned = np.asarray(keep, bool)
            self._fresh = np.concatenate([self._fresh, rows[learned]])
            self._fresh_crops.append(emb[learned])
        for k, row in enumerate(rows.tolist()):  # plain ints: numpy scalars cost more than the adds
            if not keep[k]:
                continue
            track = self._tracks[row]
            if track.gallery is None:
                track.gallery = EmbeddingRing(self.config.gallery_size, emb.shape[1])
            track.gallery.add(emb[k])

    def _end_stale(self, frame_index: int, track_det: np.ndarray) -> np.ndarray:
        """Rows to drop: tentative tracks that missed a frame, confirmed ones unseen > max_age."""
        unmatched = track_det < 0
        stale = unmatched & (frame_index - self._last_seen > self.max_age)
        remove = unmatched & (~self._confirmed | stale)
        for row in _where(remove & self._confirmed):
            self._end_track(row)
        return remove

    def _end_duplicates(self, track_det: np.ndarray, remove: np.ndarray) -> np.ndarray:
        """Rows to end as duplicates of an older track on the same object.

        A duplicate box (an upper-body box beside the full one, two boxes at a video's first frames)
        can become a second confirmed track. The two then take turns on the object's one
        detection, neither ages out, and the spare one is free to be recovered onto a look-alike
        nearby. Their signature, kept per overlapping pair: last detected boxes overlapping
        (IoU >= DUPLICATE_IOU) on `duplicate_frames` frames in a row, each matched on at least two
        of them, both at once on at most one (the frame the duplicate was born). A person hidden behind another overlaps as
        much, but is not matched while hidden, so it is left alone. The younger track ends, on a
        frame where it is unmatched (nothing reported is lost).
        """
        out = np.zeros(len(self._tracks), bool)
        rows = _where(self._confirmed & ~remove)
        matched = track_det[rows] >= 0
        lone = _where(~matched)
        if len(rows) < 2 or (len(lone) == 0 and not self._overlaps):
            self._overlaps.clear()  # with every track matched, no pair can be a duplicate
            return out
        boxes = self._last_box[rows]  # where each was last detected (this frame's box when matched)
        labels = self._label[rows]
        pairs: set[tuple[int, int]] = set()
        if len(lone):
            # a pair taking turns has one unmatched track each frame: only those rows need the IoU
            iou = iou_matrix(boxes[lone], boxes)
            iou[np.arange(len(lone)), lone] = 0.0
            li, kj = np.nonzero((iou >= DUPLICATE_IOU) & (labels[lone][:, None] == labels[None, :]))
            pairs.update((min(lone[i], j), max(lone[i], j)) for i, j in zip(li.tolist(), kj.tolist()))
        if self._overlaps:  # pairs under way: still overlapping with both matched?
            index = {self._tracks[r].uid: k for k, r in enumerate(rows)}
            for uid_a, uid_b in self._overlaps:
                i, j = index.get(uid_a), index.get(uid_b)
                if i is not None and j is not None and matched[i] and matched[j]:
                    if iou_matrix(boxes[i:i + 1], boxes[j:j + 1])[0, 0] >= DUPLICATE_IOU:
                        pairs.add((min(i, j), max(i, j)))
        seen: dict[tuple[int, int], list[int]] = {}
        for i, j in pairs:
            old, young = (i, j) if self._tracks[rows[i]].uid < self._tracks[rows[j]].uid else (j, i)
            key = (self._tracks[rows[old]].uid, self._tracks[rows[young]].uid)
            count = self._overlaps.get(key, [0, 0, 0, 0])
            count[0] += 1
            count[1] += int(matched[old])
            count[2] += int(matched[young])
            count[3] += int(matched[old] and matched[young])
            seen[key] = count
            if (count[0] >= self.duplicate_frames and count[1] >= 2 and count[2] >= 2 and count[3] <= 1
                    and not matched[young] and not out[rows[old]]):
                out[rows[young]] = True
        self._overlaps = seen  # a pair that stopped overlapping starts again from zero
        for row in _where(out):
            self._end_track(row)
        self.counts["duplicates_ended"] += int(out.sum())
        return out

    def _end_track(self, row: int) -> None:
        self.counts["tracks_ended"] += 1
        track = self._tracks[row]
        if self.memory is not None and track.entity_id and not track.displaced:
            if self.clips is not None and self.memory.config.clips:
                clip = self.clips.clip(track.uid)
                if clip is not None:
                    self.memory.add_clip(track.entity_id, clip)
            self.memory.release(track.entity_id)
        if self.clips is not None:
            self.clips.forget(track.uid)

    def _start(self, frame_index, dets, boxes, det_label, labels, det_emb, det_has, det_learn) -> None:
        n = len(dets)
        if n == 0:
            return
        mean, cov = kalman.initiate(boxes[dets], self._noise_rate)
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        self._label = np.concatenate([self._label, det_label[dets]])
        self._last_seen = np.concatenate([self._last_seen, np.full(n, frame_index, np.int64)])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._confirmed = np.concatenate([self._confirmed, np.zeros(n, bool)])
        self._last_box = np.concatenate([self._last_box, boxes[dets]])
        self._has_ema = np.concatenate([self._has_ema, np.zeros(n, bool)])
        if self._ema is not None:
            self._ema = np.concatenate([self._ema, np.zeros((n, self._ema.shape[1]), np.float32)])
        for d in dets:
            x1, y1, x2, y2 = (float(v) for v in boxes[d])
            self._tracks.append(_Track(self._next_uid, labels[d], frame_index, origin=((x1 + x2) / 2.0, (y1 + y2) / 2.0)))
            self._next_uid += 1
        self.counts["tracks_started"] += n
        if det_emb is not None:
            rows = len(self._tracks) - n + _where(det_has[dets])
            self._learn_appearance(rows, det_emb[dets[det_has[dets]]], det_learn[dets[det_has[dets]]])

    def _confirm_ready(self, frame_index: int, remove: np.ndarray) -> None:
        """Confirm tracks seen `min_hits` times (or any track early in the video, as SORT does).

        Tracks displaced earlier (a new track took their entity while they were lost) and seen
        again this frame ask the memory for an entity like a new track does.
        """
        early = self._frames_seen <= self.config.min_hits
        seen_now = self._last_seen == frame_index
        ready = ~self._confirmed & seen_now & ((self._hits >= self.config.min_hits) | early)
        rows = _where(ready)
        self._confirmed_now = rows
        back = np.zeros(0, np.int64)
        if self.counts["displaced_kept"]:  # rare: only scan when some track was ever displaced
            back = np.array([r for r in _where(self._confirmed & seen_now) if self._tracks[r].displaced], np.int64)
            back = self._revivable(back, seen_now, remove)
        if len(rows) == 0 and len(back) == 0:
            return
        lost_rows = _where(self._confirmed & (self._last_seen < frame_index) & ~remove)
        for row in rows:
            self._tracks[row].track_id = self._next_track_id
            self._next_track_id += 1
        self._confirmed[rows] = True
        self.counts["tracks_confirmed"] += len(rows)
        if self.memory is None:
            for row in rows:
                self._tracks[row].entity_id = self._tracks[row].track_id
            return
        rows = np.concatenate([rows, back])
        held_by_lost = {self._tracks[r].entity_id: r for r in lost_rows if not self._tracks[r].displaced}
        requests = [self._request(r, frame_index if self._tracks[r].displaced else None) for r in rows]
        for row, claim in zip(rows, self.memory.claim(requests, frame_index, releasable=held_by_lost.keys())):
            track = self._tracks[row]
            track.entity_id = claim.entity_id
            track.confirmed_frame = frame_index
            track.founded = not claim.reidentified
            track.displaced = False
            if claim.reidentified:
                self.counts["reidentified"] += 1
            if claim.displaced_track is not None:
                self._displace(held_by_lost[claim.entity_id], remove)

    def _revivable(self, back: np.ndarray, seen_now: np.ndarray, remove: np.ndarray) -> np.ndarray:
        """Displaced tracks seen again keep living only when that proves the claim wrong: the track
        that took their entity is in view at the same time (two objects). Otherwise the reappearance
        is as likely this lost track grabbing someone else's box: it ends (unreported), as before."""
        holders_now = {self._tracks[r].entity_id for r in _where(self._confirmed & seen_now) if not self._tracks[r].displaced}
        keep = []
        for row in back:
            if self._tracks[row].lost_entity in holders_now:
                keep.append(row)
            else:
                remove[row] = True
                self.counts["tracks_ended"] += 1
        return np.array(keep, np.int64)

    def _request(self, row: int, first_frame: int | None = None) -> ClaimRequest:
        track = self._tracks[row]
        clip = None
        if self.clips is not None and self.memory is not None and self.memory.config.clips:
            clip = self.clips.clip(track.uid)
        return ClaimRequest(
            track_id=track.track_id,
            label=track.label,
            first_frame=track.first_frame if first_frame is None else first_frame,
            embeddings=None if track.gallery is None else track.gallery.filled().copy(),
            clip=clip,
            box=self._last_box[row].copy(),
            box_frame=int(self._last_seen[row]),
        )

    def _displace(self, row: int, remove: np.ndarray) -> None:
        """A new track took the entity of lost track `row`. The lost track is NOT ended (issue 10,
        item 2): if the claim was wrong, the real owner is still tracked when it reappears, and
        then asks the memory for an entity again. Until then it reports nothing (it is lost).
        `tracking.keep_displaced: false` restores the old rule (the lost track ends at once)."""
        if not self.config.keep_displaced:
            remove[row] = True
            self.counts["tracks_ended"] += 1
            self._tracks[row].displaced = True  # ends without releasing the entity it no longer holds
            return
        self._tracks[row].displaced = True
        self._tracks[row].lost_entity = self._tracks[row].entity_id
        self._tracks[row].entity_id = 0
        self.counts["displaced_kept"] += 1

    def _report(self, frame_index, detections, track_det, via, det_emb, det_learn, remove) -> list[TrackedObject]:
        rows = _where(self._confirmed & (self._last_seen == frame_index) & ~remove)
        dets = track_det[rows]
        boxes = detections.boxes[dets]  # copies (fancy indexing), one per object below
        states = kalman.state_to_xyxy(self._mean[rows])  # all at once: per row it was 40% of update at 50 objects
        scores = detections.scores[dets].tolist()
        tracks, labels = self._tracks, detections.labels
        # positional: track_id, entity_id, box, score, label, det_index, state_box (keywords cost a third more)
        objects = [
            TrackedObject(tracks[r].track_id, tracks[r].entity_id, box, score, labels[d], d, state)
            for r, d, box, score, state in zip(rows.tolist(), dets.tolist(), boxes, scores, states)
        ]
        if self.memory is not None and len(rows):
            self._late_claims(frame_index, rows, objects, remove)
        if self._keep_early:
            self._release_early()
        if self.memory is not None and len(rows):
            use = None if det_emb is None else det_learn[dets] & (via[rows] != _LOW)
            self.memory.observe(
                frame_index,
                [o.entity_id for o in objects],
                detections.boxes[dets],
                detections.scores[dets],
                None if det_emb is None else det_emb[dets],
                use,
            )
        return objects

    def _release_early(self) -> None:
        """Tracks confirmed this frame hand their tentative observations to `take_backfill`, under
        the ids their first reported row has (after any late claim)."""
        for row in self._confirmed_now.tolist():
            track = self._tracks[row]
            for item in track.early or ():
                item.obj.track_id, item.obj.entity_id = track.track_id, track.entity_id
                self._backfill.append(item)
            track.early = None
        self._confirmed_now = np.zeros(0, np.int64)

    def _late_claims(self, frame_index: int, rows: np.ndarray, objects: list[TrackedObject], remove: np.ndarray) -> None:
        """Young tracks re-try memory for `late_reid` seconds after confirmation.

        Candidates include entities held by lost tracks (stricter bar), as at confirmation.
        """
        window = self.memory.late_reid_frames
        held_by_lost = None
        for obj, row in zip(objects, rows.tolist()):
            track = self._tracks[row]
            if not track.founded or track.gallery is None:
                continue
            if held_by_lost is None:
                lost_rows = _where(self._confirmed & (self._last_seen < frame_index) & ~remove)
                held_by_lost = {self._tracks[r].entity_id: r for r in lost_rows if not self._tracks[r].displaced}
            if frame_index - track.confirmed_frame > window:
                track.founded = False
                continue
            result = self.memory.late_claim(self._request(row), track.entity_id, releasable=held_by_lost.keys())
            if result is not None:
                old_id, displaced = result
                track.entity_id = obj.entity_id = old_id
                track.founded = False
                self.counts["reidentified"] += 1
                if displaced is not None and old_id in held_by_lost:
                    self._displace(held_by_lost.pop(old_id), remove)

    def _sample_speeds(self, frame_index: int, remove: np.ndarray) -> None:
        """Feed the memory's speed limit: centre speeds (box heights per frame) of settled tracks
        seen now (`SPEED_MIN_HITS` observations: a young track's velocity is still its prior) that
        have travelled at least their own height. Only moving objects say how fast things move:
        in a car park, the parked cars' zeros would otherwise set the limit for the one driving."""
        speed = None if self.memory is None else self.memory.speed
        if speed is None:
            return
        rows = _where(self._confirmed & (self._last_seen == frame_index) & (self._hits >= SPEED_MIN_HITS) & ~remove)
        if not len(rows):
            return
        mean = self._mean[rows]
        heights = np.maximum(mean[:, 3], kalman.MIN_SIDE)
        tracks = [self._tracks[row] for row in rows.tolist()]
        for k, track in enumerate(tracks):
            if not track.travelled and track.origin is not None:
                track.travelled = bool(np.hypot(mean[k, 0] - track.origin[0], mean[k, 1] - track.origin[1]) >= heights[k])
        moving = np.fromiter((track.travelled for track in tracks), bool, len(tracks))
        if moving.any():
            speed.add(np.hypot(mean[moving, 4], mean[moving, 5]) / heights[moving])

    def _calibrate(self, frame_index: int, remove: np.ndarray) -> None:
        """Feed the per-video calibration a few labelled pairs from this frame (see calibration.py).

        Negatives: two confirmed tracks of one class reported in this frame are different
        objects; positives: a confirmed track's newest crops against its older ones.
        """
        if self._ema is None or not self.config.calibrate or self.counts["frames"] % cal.SAMPLE_EVERY:
            return
        rows = _where(self._confirmed & (self._last_seen == frame_index) & self._has_ema & ~remove)
        if len(rows) == 0:
            return
        rng = self._rng
        tracks = self._tracks
        r = rows[int(rng.integers(len(rows)))]
        if tracks[r].gallery is not None and tracks[r].gallery.count >= cal.QUERY + cal.SKIP + cal.MIN_REFERENCE:
            self.calibration.add_positive(tracks[r].gallery.ordered(), tracks[r].uid)
        if len(rows) < 2:
            return
        for a, b in rng.integers(len(rows), size=(cal.NEG_PER_FRAME, 2)):
            a, b = rows[a], rows[b]
            if a == b or self._label[a] != self._label[b] or tracks[a].gallery is None or tracks[b].gallery is None:
                continue
            entity_rows = self.memory.gallery_rows(tracks[b].entity_id) if self.memory is not None else None
            self.calibration.add_negative(
                tracks[a].gallery.newest(cal.QUERY), tracks[b].gallery.filled(), entity_rows, (tracks[a].uid, tracks[b].uid)
            )

    def _learn_confusers(self, frame_index: int, remove: np.ndarray) -> None:
        """Each track's strongest impostor on this video: the best match a crop of another object,
        seen in the same frame, found in the track's gallery (the recovery pass's statistic).

        The calibrated recovery bar says how alike two objects of this video usually are; it
        cannot know that this one has a twin, and a lost track's twin is exactly what comes
        back near it. Only new evidence is looked at: a crop a gallery learned this frame, against
        the gallery of the co-visible track nearest to it by short-term appearance (EMA); the one
        product is a sample for both (the new crop vs the other's views, the other's crops vs the
        new view). `tracking.recovery_confusers`.
        """
        if self._ema is None or not self.config.recovery_confusers:
            return
        rows = _where(self._confirmed & (self._last_seen == frame_index) & self._has_ema & ~remove)
        rows = np.array([r for r in rows.tolist() if self._tracks[r].gallery is not None], np.int64)
        if len(rows) < 2 or len(self._fresh) == 0:
            return
        seen_now = np.isin(self._fresh, rows)
        fresh, fresh_crops = self._fresh[seen_now], np.concatenate(self._fresh_crops)[seen_now]
        if len(fresh) == 0:
            return
        alike = self._ema[fresh] @ self._ema[rows].T  # (fresh, rows)
        alike[fresh[:, None] == rows[None, :]] = -np.inf
        alike[self._label[fresh][:, None] != self._label[rows][None, :]] = -np.inf
        nearest = alike.argmax(axis=1)
        has = np.isfinite(alike[np.arange(len(fresh)), nearest])
        if not has.any():
            return
        tracks = [self._tracks[r] for r in fresh[has].tolist()]
        others = [self._tracks[r] for r in rows[nearest[has]].tolist()]
        # The new crop against the other's gallery: one object's crop vs the other's views, and the
        # other's crops vs a view the track just stored: a sample for both.
        best = best_views(*stack_rings([o.gallery for o in others]), fresh_crops[has])
        for track, other, value in zip(tracks, others, best.tolist()):
            if value > track.confuser:
                track.confuser = value
            if value > other.confuser:
                other.confuser = value

    def _drop(self, remove: np.ndarray) -> None:
        if not remove.any():
            return
        keep = ~remove
        if self.clips is not None:
            for track in (t for t, k in zip(self._tracks, keep) if not k):
                self.clips.forget(track.uid)
        self._tracks = [t for t, k in zip(self._tracks, keep) if k]
        self._mean, self._cov = self._mean[keep], self._cov[keep]
        self._label, self._last_seen, self._hits = self._label[keep], self._last_seen[keep], self._hits[keep]
        self._confirmed, self._last_box, self._has_ema = self._confirmed[keep], self._last_box[keep], self._has_ema[keep]
        if self._ema is not None:
            self._ema = self._ema[keep]

    # ---- inputs ---------------------------------------------------------------------------

    def _code(self, label: str) -> int:
        if not self.config.per_class:
            return 0
        return self._codes.setdefault(label, len(self._codes))

    def _label_codes(self, labels: list[str]) -> np.ndarray:
        """(n,) class codes; one lookup when the frame has one class, the usual case."""
        n = len(labels)
        if n and isinstance(labels, (list, tuple)) and labels.count(labels[0]) == n:
            return np.full(n, self._code(labels[0]), np.int64)
        return np.fromiter((self._code(label) for label in labels), np.int64, n)

    def _detection_embeddings(self, detections, embeddings, has_embedding) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Validated, re-normalised rows and the mask of usable ones (None: motion only)."""
        if not self.config.appearance or embeddings is None:
            return None, None
        n = len(detections)
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or len(emb) != n:
            raise ValueError(f"Tracker.update: embeddings shape {emb.shape} does not match {n} detections")
        has = np.ones(n, bool) if has_embedding is None else np.asarray(has_embedding, dtype=bool).reshape(-1)
        if len(has) != n:
            raise ValueError(f"Tracker.update: has_embedding has {len(has)} entries for {n} detections")
        if self._dim is None:
            self._dim = emb.shape[1]
            self._ema = np.zeros((len(self._tracks), self._dim), np.float32)
        elif emb.shape[1] != self._dim:
            raise ValueError(f"Tracker.update: embedding dimension changed from {self._dim} to {emb.shape[1]}")
        norms = np.linalg.norm(emb, axis=1)
        has = has & np.isfinite(norms) & (norms > 0)
        if has.all():
            return (emb / norms[:, None]).astype(np.float32, copy=False), has
        emb = np.where(has[:, None], emb / np.where(has, norms, 1.0)[:, None], 0.0).astype(np.float32)
        return emb, has
