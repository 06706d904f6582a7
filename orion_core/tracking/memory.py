"""Long-term memory: entities that outlive the online tracker's short tracks.

A confirmed track either re-claims a dormant entity of its class (it looks the same, and the
two never were on screen together) or founds a new one. Output ids are entity ids, so an
object that leaves the frame and comes back keeps its id.

Frame numbers here are `Frame.index` values (0-based video frames).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..config import DEFAULT_FPS, MemoryConfig
from .calibration import ReidCalibration
from .cmc import warp_boxes
from .gallery import EmbeddingRing

DEFAULT_REID_THRESHOLD = 0.75
SHORTLIST = 64  # candidates compared gallery-to-gallery after a cheap prototype pre-filter
MAX_FORGOTTEN_RECORDS = 10_000  # small records (no embedding) kept without an on_forget sink: ~3 MB at most
CLIP_GALLERY = 8  # clip embeddings kept per entity (one per tracklet end or claim)


class SpeedLimit:
    """How far an object can have moved while it was away, learned from this video's own tracks.

    A claim joins an entity last seen at box A, g frames ago, to a track now at box B. Appearance
    alone cannot rule out a look-alike; geometry can: nothing in this video moves faster than
    its tracked objects do. Speeds are Kalman centre velocities in box heights per frame (scale-
    free: near and far objects alike, any frame rate), sampled from confirmed tracks; the limit
    is `SAFETY` x their `QUANTILE`, plus `SLACK_HEIGHTS` for boxes that reappear misplaced (half
    occluded, cut by the frame edge). Until `MIN_SAMPLES` speeds are in, there is no limit: a
    video that has shown nothing moving cannot say what is too fast. Positions are in image
    pixels; the tracker moves the stored boxes with the camera (`warp`) when the camera moves.
    """

    SIZE = 4096  # speeds kept (ring): the newest ones, so a scene that speeds up is followed
    MIN_SAMPLES = 200
    QUANTILE = 0.99
    SAFETY = 2.0
    SLACK_HEIGHTS = 1.0

    def __init__(self) -> None:
        self._speeds = np.zeros(self.SIZE, np.float64)
        self._count = 0
        self._limit: float | None = None
        self._fitted_at = -1

    def add(self, speeds: np.ndarray) -> None:
        """Speeds (heights per frame) of tracks observed this frame."""
        speeds = np.asarray(speeds, np.float64).ravel()
        speeds = speeds[np.isfinite(speeds)]
        speeds = speeds[-self.SIZE:]
        self._speeds[(self._count + np.arange(len(speeds))) % self.SIZE] = speeds
        self._count += len(speeds)

    def limit(self) -> float | None:
        """Heights per frame no object of this video is expected to exceed; None: no evidence yet."""
        if self._count < self.MIN_SAMPLES:
            return None
        if self._fitted_at != self._count:  # claims are rare, speeds arrive every frame: fit lazily
            kept = self._speeds[: min(self._count, self.SIZE)]
            self._limit = self.SAFETY * float(np.quantile(kept, self.QUANTILE))
            self._fitted_at = self._count
        return self._limit

    def reachable(self, last_box: np.ndarray | None, box: np.ndarray | None, gap_frames: int) -> bool:
        """Could an object at `last_box` be at `box` `gap_frames` later? True when unknown."""
        limit = self.limit()
        if limit is None or last_box is None or box is None:
            return True
        height = max(float(last_box[3] - last_box[1]), float(box[3] - box[1]), 1.0)
        centre_a = ((last_box[0] + last_box[2]) / 2.0, (last_box[1] + last_box[3]) / 2.0)
        centre_b = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
        distance = float(np.hypot(centre_b[0] - centre_a[0], centre_b[1] - centre_a[1])) / height
        return distance <= self.SLACK_HEIGHTS + limit * max(gap_frames, 1)

    @property
    def stats(self) -> dict:
        limit = self.limit()
        return {"samples": int(self._count), "limit_heights_per_frame": None if limit is None else round(limit, 4)}


@dataclass
class ClaimRequest:
    """A track that just became confirmed and needs an entity id."""

    track_id: int
    label: str
    first_frame: int  # first frame the track was observed (tentative frames included)
    embeddings: np.ndarray | None  # (k, D) L2-normalised: the track's gallery so far
    clip: np.ndarray | None = None  # (D,) clip embedding of the track's crops (video backends), else None
    box: np.ndarray | None = None  # (4,) xyxy where the track was last observed (the speed limit's end point)
    box_frame: int | None = None  # the frame of `box`


@dataclass
class Claim:
    entity_id: int
    reidentified: bool
    displaced_track: int | None = None  # lost track that held the entity; the tracker must end it


@dataclass
class _Entity:
    id: int
    label: str
    first_frame: int
    last_frame: int
    holder: int | None  # track id of the live track carrying this entity
    observations: int = 0
    tracklets: list[dict] = field(default_factory=list)
    gallery: EmbeddingRing | None = None
    clips: EmbeddingRing | None = None  # clip embeddings of its tracklets (video backends)
    prototype: np.ndarray | None = None  # cached while dormant (the gallery cannot change then)
    thumbnail: dict | None = None
    thumbnail_key: float = -1.0
    reidentified: int = 0
    forgotten: bool = False
    last_box: Sequence[float] | None = None  # xyxy at last_frame, moved with the camera


def gallery_similarity(query: np.ndarray, gallery: np.ndarray) -> float:
    """Mean over the new track's embeddings of each one's best match in the entity gallery.

    Max over the gallery because an entity was seen from several sides and one stored view
    matching is enough; mean over the query because a track's first crops are noisy (partly
    occluded, blurred) and a single lucky crop must not merge two people. Mean-of-top-k over
    all pairs would let one query crop that matches k gallery views decide alone.
    """
    return float((query @ gallery.T).max(axis=1).mean())


class EntityMemory:
    """Dormant entities, re-identification by appearance, and the per-entity record.

    `reid_threshold` is the resolved default similarity (the engine resolves config value >
    backend suggestion > 0.75); `config.class_thresholds` override it per class. Entities beyond
    `config.max_entities` dormant ones are forgotten oldest first: their gallery is freed and
    they can no longer be re-claimed; their record goes to `on_forget` when given (to stream it
    to disk; that record carries its `prototype` inline as a list), else it is kept, small and
    without a gallery, for `entities()`.
    """

    def __init__(
        self,
        config: MemoryConfig | None = None,
        reid_threshold: float | None = None,
        on_forget: Callable[[dict], None] | None = None,
        fps: float | None = None,
        calibration: ReidCalibration | None = None,
    ) -> None:
        self.config = config or MemoryConfig()
        if reid_threshold is None:
            reid_threshold = self.config.reid_threshold
        self.reid_threshold = DEFAULT_REID_THRESHOLD if reid_threshold is None else float(reid_threshold)
        # The tracker replaces this with its own (shared) calibration; standalone use keeps the prior.
        self.calibration = calibration or ReidCalibration(self.reid_threshold, enabled=False)
        # Clip embeddings are another statistic: their own calibration (fed by whoever makes clips).
        self.clip_calibration = ReidCalibration(self.reid_threshold, enabled=True, seed=1)
        self.fps = fps if fps is not None and fps > 0 else DEFAULT_FPS
        self.max_gap_frames = self.config.max_gap(self.fps)
        self.late_reid_frames = self.config.late_reid(self.fps)
        self.on_forget = on_forget
        self._entities: dict[int, _Entity] = {}
        self._dormant: dict[int, None] = {}  # insertion-ordered set
        self._forgotten: list[dict] = []
        self._next_id = 1
        self._dim: int | None = None
        self._thumbnail_updates: dict[int, dict] = {}
        self.merged: dict[int, int] = {}  # young entity id -> the entity it turned out to be (late_claim)
        self.speed: SpeedLimit | None = SpeedLimit() if self.config.speed_limit else None
        self.counts = {
            "entities": 0,
            "reidentified": 0,
            "late_reidentified": 0,
            "forgotten": 0,
            "forgotten_records_dropped": 0,
            "rejected_below_bar": 0,
            "rejected_by_margin": 0,
            "rejected_by_rival": 0,
            "displaced_lost_tracks": 0,
            "clip_decisions": 0,
            "rejected_too_far": 0,
        }

    # ---- thresholds and stats -------------------------------------------------------------

    def threshold_for(self, label: str) -> float:
        """The single-candidate bar for `label` (class override, else calibrated, else the prior)."""
        return self._bar(label, 1, held=False)

    def _bar(self, label: str, candidates: int, held: bool, clip: bool = False) -> float:
        calibration = self.clip_calibration if clip else self.calibration
        if label in self.config.class_thresholds:
            bar = float(self.config.class_thresholds[label])
            return bar + calibration.margin() if held else bar
        return calibration.bar(candidates, held)

    @property
    def stats(self) -> dict:
        active = sum(1 for e in self._entities.values() if e.holder is not None)
        stats = {**self.counts, "active": active, "dormant": len(self._dormant)}
        stats["max_gap_frames"] = self.max_gap_frames
        stats["late_reid_frames"] = self.late_reid_frames
        if self.speed is not None:
            stats["speed_limit"] = self.speed.stats
        if self.clip_calibration.positives.total or self.clip_calibration.negatives.total:
            stats["clip_calibration"] = self.clip_calibration.stats
        return stats

    def gallery_rows(self, entity_id: int) -> np.ndarray | None:
        """An entity's stored views (None: unknown or none yet): the reference a claim compares with."""
        entity = self._entities.get(entity_id)
        if entity is None or entity.gallery is None or entity.gallery.count == 0:
            return None
        return entity.gallery.filled()

    # ---- the tracker's calls --------------------------------------------------------------

    def claim(self, requests: Sequence[ClaimRequest], frame_index: int, releasable: Collection[int] = ()) -> list[Claim]:
        """Entity ids for newly confirmed tracks, decided together (Hungarian on similarity).

        Candidates are dormant entities plus `releasable` ones (held by tracks the tracker has
        lost: the object may have reappeared out of the Kalman gate). A candidate must share the
        class, have been last seen strictly before the new track's first frame (no temporal
        overlap: two entities seen together are never merged), and be within the max gap. The
        decision is open-set (`_decide`): the best candidate must clear the calibrated bar for
        that many candidates (higher for a lost track's entity), beat the runner-up by the
        calibrated margin; and the track must look more like it than like any entity seen while it was (`_rival`).
        """
        if not requests:
            return []
        self._forget_expired(frame_index)
        releasable = set(releasable)
        sims = self._similarities(requests, releasable)
        claims: list[Claim | None] = [None] * len(requests)
        if sims is not None:
            candidates, matrix = sims
            rows, cols = linear_sum_assignment(np.where(np.isfinite(matrix), -matrix, 1e6))
            for r, c in zip(rows, cols):
                if np.isfinite(matrix[r, c]):
                    claims[r] = self._reclaim(candidates[c], requests[r], frame_index)
        return [claim or self._found(request, frame_index) for claim, request in zip(claims, requests)]

    def _decide(self, request: ClaimRequest, candidates: list[_Entity], allowed: list[int], releasable: Collection[int]) -> tuple[int, float] | None:
        """(candidate index, similarity) of the one acceptable candidate, or None (open set)."""
        use_clip = request.clip is not None and any(candidates[c].clips is not None for c in allowed)
        scored = []
        for c in self._shortlist(request.embeddings, candidates, allowed):
            sim = self._similarity(request, candidates[c], use_clip)
            if sim is not None:
                scored.append((sim, c))
        if not scored:
            return None
        scored.sort(reverse=True)
        best_sim, best = scored[0]
        held = candidates[best].id in releasable
        bar = self._bar(request.label, len(scored), held, clip=use_clip)
        if best_sim < bar:
            self.counts["rejected_below_bar"] += 1
            return None
        calibration = self.clip_calibration if use_clip else self.calibration
        if len(scored) > 1 and best_sim - scored[1][0] < calibration.margin():
            self.counts["rejected_by_margin"] += 1
            return None
        if self.config.rivals and not use_clip:
            rival = self._rival(request, candidates[best])
            if rival is not None and best_sim <= rival:
                self.counts["rejected_by_rival"] += 1
                return None
        if use_clip:
            self.counts["clip_decisions"] += 1
        return best, best_sim

    def _rival(self, request: ClaimRequest, entity: _Entity) -> float | None:
        """The request's best similarity to an entity seen while `entity` was: certainly another object.

        Beating the runner-up among candidates is not enough: the track may be an object that is
        not a candidate at all (still held, or its own track swapped onto someone else), or the
        twin of the entity. If it looks at least as much like an object known to be another one,
        the entity is no better an answer than that object. Time spans stand for co-occurrence.
        """
        if request.embeddings is None:
            return None
        others = [
            e for e in self._entities.values()
            if e is not entity and e.label == entity.label and e.gallery is not None and e.gallery.count
            and e.first_frame <= entity.last_frame and entity.first_frame <= e.last_frame
        ]
        if not others:
            return None
        shortlist = self._shortlist(request.embeddings, others, list(range(len(others))))
        return max(gallery_similarity(request.embeddings, others[i].gallery.filled()) for i in shortlist)

    @staticmethod
    def _similarity(request: ClaimRequest, entity: _Entity, use_clip: bool) -> float | None:
        if use_clip:
            if entity.clips is None or entity.clips.count == 0:
                return None
            return float((entity.clips.filled() @ request.clip).max())
        return gallery_similarity(request.embeddings, entity.gallery.filled())

    def observe(
        self,
        frame_index: int,
        entity_ids: Sequence[int],
        boxes: np.ndarray,
        scores: np.ndarray,
        embeddings: np.ndarray | None = None,
        use_embedding: np.ndarray | None = None,
    ) -> None:
        """Record one frame's reported observations (boxes xyxy; embeddings aligned rows)."""
        if len(entity_ids) == 0:
            return
        # Whole-frame arrays first: per-object numpy scalars were most of this call's cost.
        boxes = np.array(boxes, np.float64).reshape(-1, 4)
        wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 0.0)
        score_list = np.asarray(scores, np.float64).tolist()
        # Larger, surer boxes make better thumbnails; score alone would favour tiny crops.
        keys = (np.asarray(scores, np.float64) * wh[:, 0] * wh[:, 1]).tolist()
        learn = [False] * len(entity_ids) if embeddings is None else (
            [True] * len(entity_ids) if use_embedding is None else np.asarray(use_embedding, bool).tolist())
        entities, box_rows = self._entities, boxes.tolist()  # plain lists: per-row numpy copies were a third of this loop
        dim = None if embeddings is None else embeddings.shape[1]
        for i, entity_id in enumerate(entity_ids):
            entity = entities[entity_id]
            entity.last_frame = frame_index
            entity.observations += 1
            entity.tracklets[-1]["last_frame"] = frame_index
            entity.last_box = box_rows[i]
            if keys[i] > entity.thumbnail_key:
                entity.thumbnail_key = keys[i]
                entity.thumbnail = {"frame": int(frame_index), "box": list(box_rows[i]), "score": score_list[i]}
                self._thumbnail_updates[entity_id] = dict(entity.thumbnail)
            if learn[i]:
                self._gallery_of(entity, dim).add(embeddings[i])

    def late_claim(self, request: ClaimRequest, entity_id: int, releasable: Collection[int] = ()) -> tuple[int, int | None] | None:
        """Give a young entity a second chance to turn out to be a returning one.

        An object re-entering at the frame edge is half visible when its track is confirmed, so
        its first crops match its old self poorly; a few frames later they match well. When the
        track's gallery now reaches a dormant entity, or one a lost track holds (`releasable`,
        stricter bar, as in `claim`), the young entity is merged into it and
        `(old id, displaced track id or None)` returned (the engine relabels the few observations
        already written). Only entities founded at confirmation qualify: a re-identified one
        already chose.
        """
        young = self._entities.get(entity_id)
        if (
            young is None
            or young.reidentified
            or len(young.tracklets) != 1
            or not self.config.enabled
            or request.embeddings is None
            or len(request.embeddings) == 0
        ):
            return None
        releasable = {i for i in releasable if i != entity_id}
        candidates = self._candidates(releasable)
        allowed = [c for c, entity in enumerate(candidates) if self._may_claim(request, entity)]
        if not allowed:
            return None
        decided = self._decide(request, candidates, allowed, releasable)
        if decided is None:
            return None
        best = candidates[decided[0]]
        displaced = best.holder
        self._merge(young, best)
        if displaced is not None:
            self.counts["displaced_lost_tracks"] += 1
        return best.id, displaced

    def _merge(self, young: _Entity, old: _Entity) -> None:
        """`young` becomes part of `old`: its tracklet, observations, views and thumbnail."""
        self._dormant.pop(old.id, None)
        old.holder = young.holder
        old.prototype = None
        old.tracklets.extend(young.tracklets)
        old.observations += young.observations
        if young.last_frame >= old.last_frame:
            old.last_frame, old.last_box = young.last_frame, young.last_box
        if young.gallery is not None:
            gallery = self._gallery_of(old, young.gallery.rows.shape[1])
            for row in young.gallery.filled():
                gallery.add(row)
        if young.clips is not None:
            for row in young.clips.filled():
                self.add_clip(old.id, row)
        self._thumbnail_updates.pop(young.id, None)
        if young.thumbnail_key > old.thumbnail_key:
            old.thumbnail_key, old.thumbnail = young.thumbnail_key, young.thumbnail
            self._thumbnail_updates[old.id] = dict(young.thumbnail)
        old.reidentified += 1
        del self._entities[young.id]
        self.merged[young.id] = old.id
        self.counts["reidentified"] += 1
        self.counts["late_reidentified"] += 1

    def release(self, entity_id: int) -> None:
        """The track carrying `entity_id` ended: the entity becomes dormant (claimable)."""
        entity = self._entities[entity_id]
        if entity.holder is None:
            return
        entity.holder = None
        entity.prototype = _prototype(entity.gallery)
        self._dormant[entity_id] = None
        while len(self._dormant) > self.config.max_entities:
            oldest = min(self._dormant, key=lambda i: self._entities[i].last_frame)
            self._forget(oldest)

    def add_clip(self, entity_id: int, clip: np.ndarray) -> None:
        """Store a clip embedding (a tracklet's crops through a video backend) with the entity."""
        entity = self._entities.get(entity_id)
        if entity is None:
            return
        if entity.clips is None:
            entity.clips = EmbeddingRing(CLIP_GALLERY, len(clip))
        entity.clips.add(np.asarray(clip, np.float32))
        entity.prototype = None

    def pop_thumbnail_updates(self) -> dict[int, dict]:
        """Entities whose best thumbnail changed since the last call: crop them from this frame."""
        updates, self._thumbnail_updates = self._thumbnail_updates, {}
        return updates

    # ---- export ---------------------------------------------------------------------------

    def entities(self) -> list[dict]:
        """JSON-ready records ordered by id; `prototype_row` indexes `prototypes()` (None: no embedding)."""
        return self.export()[0]

    def prototypes(self) -> np.ndarray:
        """(K, D) float32 prototypes (normalised gallery means), rows as `entities()` index them."""
        return self.export()[1]

    def export(self) -> tuple[list[dict], np.ndarray]:
        """`entities()` and `prototypes()` from one snapshot."""
        records = [dict(r) for r in self._forgotten] + [self._record(e) for e in self._entities.values()]
        records.sort(key=lambda r: r["id"])
        rows = []
        for record in records:
            prototype = record.pop("_prototype")
            record["prototype_row"] = None if prototype is None else len(rows)
            if prototype is not None:
                rows.append(prototype)
        matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, self._dim or 0), np.float32)
        return records, matrix

    # ---- internals ------------------------------------------------------------------------

    def _gallery_of(self, entity: _Entity, dim: int) -> EmbeddingRing:
        if self._dim is None:
            self._dim = dim
        elif dim != self._dim:
            raise ValueError(f"EntityMemory: embedding dimension changed from {self._dim} to {dim}")
        if entity.gallery is None:
            entity.gallery = EmbeddingRing(self.config.gallery_size, dim)
        return entity.gallery

    def _found(self, request: ClaimRequest, frame_index: int) -> Claim:
        # Spans count reported frames (from confirmation on), matching what the outputs show.
        entity = _Entity(self._next_id, request.label, frame_index, frame_index, holder=request.track_id)
        self._next_id += 1
        entity.tracklets.append(_tracklet(request.track_id, frame_index))
        self._entities[entity.id] = entity
        self.counts["entities"] += 1
        return Claim(entity.id, reidentified=False)

    def _reclaim(self, entity: _Entity, request: ClaimRequest, frame_index: int) -> Claim:
        displaced = entity.holder
        entity.holder = request.track_id
        entity.prototype = None
        entity.reidentified += 1
        self._dormant.pop(entity.id, None)
        entity.tracklets.append(_tracklet(request.track_id, frame_index))
        self.counts["reidentified"] += 1
        if displaced is not None:
            self.counts["displaced_lost_tracks"] += 1
        return Claim(entity.id, reidentified=True, displaced_track=displaced)

    def _candidates(self, releasable: Collection[int]) -> list[_Entity]:
        ids = list(self._dormant) + [i for i in releasable if i in self._entities and i not in self._dormant]
        return [self._entities[i] for i in ids if self._entities[i].gallery is not None]

    def _similarities(self, requests: Sequence[ClaimRequest], releasable: Collection[int]) -> tuple[list[_Entity], np.ndarray] | None:
        """(candidates, R x C similarity matrix, -inf except each request's one acceptable candidate)."""
        if not self.config.enabled:
            return None
        candidates = self._candidates(releasable)
        if not candidates:
            return None
        matrix = np.full((len(requests), len(candidates)), -np.inf)
        for r, request in enumerate(requests):
            if request.embeddings is None or len(request.embeddings) == 0:
                continue
            allowed = [c for c, entity in enumerate(candidates) if self._may_claim(request, entity)]
            if not allowed:
                continue
            decided = self._decide(request, candidates, allowed, releasable)
            if decided is not None:
                matrix[r, decided[0]] = decided[1]
        return candidates, matrix

    def _may_claim(self, request: ClaimRequest, entity: _Entity) -> bool:
        """Same class, no temporal overlap, not away longer than the max gap, and near enough to
        have walked from where it was last seen (`SpeedLimit`)."""
        gap = request.first_frame - entity.last_frame
        max_gap = self.max_gap_frames
        if not (entity.label == request.label and gap > 0 and (max_gap is None or gap <= max_gap)):
            return False
        if self.speed is None or request.box is None or request.box_frame is None:
            return True
        if self.speed.reachable(entity.last_box, request.box, request.box_frame - entity.last_frame):
            return True
        self.counts["rejected_too_far"] += 1
        return False

    def forget_positions(self) -> None:
        """The view changed (a cut): last positions no longer limit which entity a track may be."""
        for entity in self._entities.values():
            entity.last_box = None

    def warp(self, matrix: np.ndarray) -> None:
        """The camera moved (2x3 affine, previous frame to this one): stored last positions move with it."""
        entities = [e for e in self._entities.values() if e.last_box is not None]
        if not entities:
            return
        moved = warp_boxes(np.stack([e.last_box for e in entities]), np.asarray(matrix, np.float64))
        for entity, box in zip(entities, moved):
            entity.last_box = box

    @staticmethod
    def _shortlist(query: np.ndarray, candidates: list[_Entity], allowed: list[int]) -> list[int]:
        """The `SHORTLIST` allowed candidates whose prototypes are closest: bounds the gallery work."""
        if len(allowed) <= SHORTLIST:
            return allowed
        prototypes = np.stack([_prototype(candidates[c].gallery) if candidates[c].prototype is None else candidates[c].prototype for c in allowed])
        order = np.argsort(-(prototypes @ query.mean(axis=0)))[:SHORTLIST]
        return [allowed[i] for i in order]

    def _forget_expired(self, frame_index: int) -> None:
        """Entities away longer than the max gap (seconds of video) can never be re-claimed: free them now."""
        gap = self.max_gap_frames
        if gap is None:
            return
        for entity_id in [i for i in self._dormant if frame_index - self._entities[i].last_frame > gap]:
            self._forget(entity_id)

    def _forget(self, entity_id: int) -> None:
        self._dormant.pop(entity_id, None)
        entity = self._entities.pop(entity_id)
        entity.forgotten = True
        record = self._record(entity)
        entity.gallery = entity.clips = None
        self._thumbnail_updates.pop(entity_id, None)
        self.counts["forgotten"] += 1
        if self.on_forget is not None:
            record["prototype"] = None if record["_prototype"] is None else record["_prototype"].tolist()
            record.pop("_prototype")
            self.on_forget(record)
            return
        # Without a sink, keep a small record (no embedding: D floats each would grow without
        # bound) and at most MAX_FORGOTTEN_RECORDS of them; older ones are only counted.
        record["_prototype"] = None
        self._forgotten.append(record)
        if len(self._forgotten) > MAX_FORGOTTEN_RECORDS:
            self._forgotten.pop(0)
            self.counts["forgotten_records_dropped"] += 1

    def _record(self, entity: _Entity) -> dict:
        prototype = entity.prototype if entity.prototype is not None else _prototype(entity.gallery)
        if entity.holder is not None:
            state = "active"
        elif entity.forgotten:
            state = "forgotten"
        else:
            state = "dormant"
        return {
            "id": entity.id,
            "class": entity.label,
            "first_frame": entity.first_frame,
            "last_frame": entity.last_frame,
            "observations": entity.observations,
            "tracklets": [dict(t) for t in entity.tracklets],
            "reidentified": entity.reidentified,
            "state": state,
            "thumbnail": None if entity.thumbnail is None else dict(entity.thumbnail),
            "_prototype": prototype,
        }



def _tracklet(track_id: int, frame_index: int) -> dict:
    return {"track_id": track_id, "first_frame": frame_index, "last_frame": frame_index}


def _prototype(gallery: EmbeddingRing | None) -> np.ndarray | None:
    return None if gallery is None else gallery.prototype()
