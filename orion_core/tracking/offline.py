"""Offline tracklet pass, run once at commit on what the online stage wrote.

The online tracker decides each frame with only the past. At the end of the video every
observation is known, so three things become possible that an online tracker cannot do:

1. **Smoothing** (`smooth`): a Rauch-Tung-Striebel smoother over the same constant-velocity
   Kalman model the tracker uses (`kalman.py`: cx, cy, w, h and their velocities), run on the
   detections of each tracklet. Each box then uses the frames after it as well as those before.
2. **Global linking** (`link`): entities whose time spans do not overlap are joined when the
   evidence is clear, in one Hungarian assignment (each entity gets at most one successor):
   * appearance: cosine similarity of the entities' mean embeddings (clean views only) must clear
     a bar *fitted on this video* and beat the runner-up by a margin (open set: no link is better
     than a wrong one). The video labels its own pairs: two halves of one tracklet are the same
     object; two entities seen in the same frame are different ones. The backend's
     `reid_threshold` is the prior while there are too few such pairs. The runner-up is the best
     alternative that is certainly *another* object than the chosen one (it co-occurs with it):
     a later re-appearance of the same object is no rival.
   * motion: a short gap (`link_motion_s`) where the extrapolated box lands near the new one, and
     no other candidate falls in that gate. It is the only rule without embeddings. With them,
     appearance may choose between motion's candidates when motion alone cannot: the candidate
     must stand out from what different objects score in this video (`TIE_BREAK_SPREADS` spreads
     above their median) and look more like the object than every rival by one spread (run.json
     names such links "motion, appearance chose").
   Tracklets that overlap in time, or have different classes, are never linked.
3. **Gap interpolation** (`interpolate_s`): inside one entity, frames missed for at most that many
   seconds get a linearly interpolated box, marked `interpolated` (no embedding), when the entity
   was detected steadily somewhere (`interpolate_min_run` processed frames in a row) or the gap
   is explained by an occluder; a false positive that fires on a fraction of the frames would
   otherwise be drawn on every frame in between (see `interpolate_entities`).
4. **Unsupported entities** (`drop_unsupported`), decided before filling: an entity never seen
   steadily, seen on fewer than half the frames its tracks held it, whose misses nothing explains or
   whose own boxes lie inside another entity's, is left out of the final rows
   (`unsupported_entities`): a background spot the detector fires on now and then, or a second
   box on one person chained from sparse hits. The online result (`--online`) keeps them.

A moving camera (`camera_to_reference`): all of this assumes objects move steadily, which they
do in the scene, not in the image of a panning or zooming camera. With the warps the online
tracker applied, the pass moves every box into the first frame's coordinates, works there, and
returns each box to its own frame; the tests against the frame's borders (exits, edge links)
look at the image. A filled box mostly outside the picture (`MIN_FILL_VISIBLE`) is not reported.

Memory: observations are held as compact columns (about 100 bytes a row, no embeddings);
embeddings stay on disk (read by rows, `MEAN_BLOCK` at a time, through the engine's
`outputs.EmbeddingRows`: no memory map) and only per-tracklet and per-entity sums are kept; the
smoother runs on chunks of whole tracks (`SMOOTH_CHUNK_ROWS`). So the pass's peak memory does
not grow with the length of the video beyond those columns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from . import cmc, kalman
from .tracker import covered_fraction as max_ioa  # per box: the most of it one other box covers
from .tracker import ioa_matrix

log = logging.getLogger(__name__)

# A view is "covered" when this fraction of its box lies under another reported box; such crops
# mix two objects (18% of PETS09 detections) and are left out of the appearance means.
COVERED_IOA = 0.3
# Same-object pairs come from tracklets long enough to split in two halves of this many views.
MIN_HALF_VIEWS = 4
MIN_SAME_PAIRS = 5  # same-object pairs needed before their spread may raise the bar
# Pairs of each kind before the fitted bar fully replaces the backend's prior (weight n / FULL_EVIDENCE).
FULL_EVIDENCE = 20
# Fastest plausible motion between two linked entities, in box heights per second (a running
# person covers about 3; cars more, but those rarely vanish mid-frame for long).
MAX_SPEED_HEIGHTS_S = 5.0
MIN_MARGIN, THIN_MARGIN = 0.02, 0.05  # runner-up margin: floor, and value without same-object pairs
EDGE_FRACTION = 0.05  # a box within this fraction of the frame size from a border touches it
# A box this close to a border (fraction of its own width or height, at least BORDER_MIN_PX) is cut
# by it: a detector boxes only the visible part of an object leaving the view.
BORDER_TOLERANCE, BORDER_MIN_PX = 0.1, 2.0
EXIT_VIEWS = 4  # views either side of a gap that give the speed of an object leaving or returning
# Motion gate, in heights of the box, around the constant-velocity extrapolation: its error grows
# with the time unseen. A walker turning at 0.5 m/s^2 strays 0.25 m (~0.15 heights) from a
# straight line in 1 s, and a velocity off by 0.2 heights/s adds as much again: half a height per
# second, on top of half a height for the boxes' own noise. Measured on the synthetic scenes at 7
# and 25 fps and PETS (benchmarks/README.md): 1.0 heights/s let wrong links through in a crowd.
GATE_HEIGHTS, GATE_GROWTH_HEIGHTS_S = 0.5, 0.5
RIVAL_WINDOW = 2.0  # rivals for a motion link are looked for up to this multiple of its time limit
TIE_BREAK_SPREADS = 2.0  # a candidate appearance may pick among motion rivals: this many spreads of different-object similarity above their median
# how a link was decided, for run.json: "motion, appearance chose" = motion had rivals that appearance told apart
_LINK_KINDS = {1: "appearance", 2: "motion", 3: "motion, appearance chose"}
# Linking compares every pair of entities (a few (n, n) matrices): 3000 entities is about 1 GB
# at peak, so beyond that it is skipped (a warning and run.json say so) rather than risk memory.
MAX_LINK_ENTITIES = 3000
SMOOTH_CHUNK_ROWS = 20_000  # rows of whole tracks smoothed together (~1.3 KB each while they are)
MEAN_BLOCK = 4096  # embedding rows averaged at a time (`_mean_rows`)
HIDDEN_IOA = 0.5  # a filled box this much under another entity's box counts as hidden (interpolate_entities)
# A filled box less than this inside the image is not reported: by its own estimate the object is
# mostly out of view (a panning camera swept past it), where no detector would box it.
MIN_FILL_VISIBLE = 0.5
DENSE_FRACTION, DENSE_MIN_RUN = 0.75, 3  # a short-lived entity this densely seen counts as steady (`steady`)
# `unsupported_entities`: an unsteady entity seen on less than this share of the frames its tracks
# held it is questioned (a majority: an object in view is detected on most frames)...
SUPPORT_FRACTION = 0.5
# ... and dropped when most of its misses are not hidden, or when most of its own boxes lie this
# much inside another entity's box: a second box on one object (an upper body) lies wholly in the
# first, while a person the detector sees is at least half visible, so mostly outside the others.
SHADOW_IOA = 0.7


@dataclass
class OfflineSettings:
    """Which parts of the pass run; see the module docstring."""

    smooth: bool = True
    interpolate_s: float = 3.0  # 0 = no gap filling (TrackingConfig.offline_interpolate_s explains the value)
    interpolate_min_run: int = 8  # steady run that earns gap filling; else only hidden gaps (0 = all)
    interpolate_exits: bool = False  # True: fill a gap in which the object left the view and came back (else only where hidden)
    link: bool = True
    link_motion_s: float = 2.0  # longest gap a motion-only link may bridge
    drop_unsupported: bool = True  # leave out entities the video does not support (`unsupported_entities`)
    trim_unsupported: bool = True  # ... and a steady entity's unsupported start or end (`unsupported_ends`)
    backfill: bool = True  # keep the rows of tracks' tentative starts (`Observations.late`); False: leave them out
    noise_fps: float = kalman.NOISE_FPS  # the smoother's process noise, as the online filter's (0: per frame)
    reid_prior: float = 0.75  # backend's reid_threshold: the bar until the video has evidence
    high_score: float = 0.5  # views below it came from the low-score pass: likely occluded

    @classmethod
    def from_config(cls, tracking, reid_prior: float) -> OfflineSettings:
        """The pass a run with this `TrackingConfig` makes (all off when `tracking.offline` is false);
        one place, so a replay of the pass (benchmarks/ablation.py) cannot miss a setting."""
        on = bool(tracking.offline)
        return cls(
            smooth=on and tracking.offline_smooth,
            interpolate_s=float(tracking.offline_interpolate_s) if on else 0.0,
            interpolate_min_run=int(tracking.offline_interpolate_min_run),
            interpolate_exits=bool(tracking.offline_interpolate_exits),
            link=on and tracking.offline_link,
            link_motion_s=float(tracking.offline_link_motion_s),
            drop_unsupported=on and tracking.offline_drop_unsupported,
            trim_unsupported=on and tracking.offline_trim_unsupported,
            backfill=on and tracking.offline_backfill,
            noise_fps=float(tracking.kalman_noise_fps),
            reid_prior=reid_prior,
            high_score=tracking.high_score,
        )


@dataclass
class Observations:
    """The online stage's rows as compact columns (in frame order: `in_frame_order`)."""

    frame: np.ndarray  # (n,) int64, 1-based
    time_s: np.ndarray  # (n,) float64
    entity: np.ndarray  # (n,) int64
    track: np.ndarray  # (n,) int64
    label: np.ndarray  # (n,) int64 index into `labels`
    labels: list[str]
    box: np.ndarray  # (n, 4) float64 xyxy, as reported (filtered state or detection)
    det: np.ndarray  # (n, 4) float64 xyxy, the detection the row came from
    conf: np.ndarray  # (n,) float64
    emb_row: np.ndarray  # (n,) int64, -1 without an embedding
    # (n,) bool: observed while the track was tentative, written when it confirmed (`Tracker.take_backfill`)
    late: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.late is None:
            self.late = np.zeros(len(self.frame), bool)

    def __len__(self) -> int:
        return len(self.frame)

    def take(self, rows: np.ndarray) -> Observations:
        return Observations(**{f.name: getattr(self, f.name) if f.name == "labels" else getattr(self, f.name)[rows]
                               for f in dataclasses.fields(self)})

    def in_frame_order(self) -> tuple[Observations, np.ndarray | None]:
        """These rows sorted by frame (stable), and the file row of each sorted row (None when the
        file was in order). Backfilled rows are written when their track confirms, after rows of
        later frames."""
        if len(self.frame) < 2 or bool(np.all(self.frame[1:] >= self.frame[:-1])):
            return self, None
        order = np.argsort(self.frame, kind="stable")
        return self.take(order), order


def read_observations(path: Path) -> Observations:
    """Stream tracks.jsonl into columns (typed arrays while reading: no Python object per value)."""
    from array import array

    ints = {k: array("q") for k in ("frame", "entity", "track", "label", "emb_row", "late")}
    floats = {k: array("d") for k in ("time_s", "conf", "box", "det")}
    codes: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            r = json.loads(line)
            ints["frame"].append(r["frame"])
            ints["entity"].append(r["entity_id"])
            ints["track"].append(r["track_id"])
            ints["label"].append(codes.setdefault(r["class"], len(codes)))
            ints["emb_row"].append(-1 if r.get("embedding_row") is None else r["embedding_row"])
            ints["late"].append(1 if r.get("backfilled") else 0)
            floats["time_s"].append(r["time_s"])
            floats["conf"].append(r["conf"])
            floats["box"].extend(r["bbox_xyxy"])
            floats["det"].extend(r.get("det_xyxy") or r["bbox_xyxy"])
    col = {k: np.frombuffer(v, np.int64).copy() if len(v) else np.zeros(0, np.int64) for k, v in ints.items()}
    col.update({k: np.frombuffer(v, np.float64).copy() if len(v) else np.zeros(0) for k, v in floats.items()})
    return Observations(
        frame=col["frame"], time_s=col["time_s"], entity=col["entity"], track=col["track"], label=col["label"],
        labels=list(codes), box=col["box"].reshape(-1, 4), det=col["det"].reshape(-1, 4), conf=col["conf"],
        emb_row=col["emb_row"], late=col["late"].astype(bool),
    )


# ---- 1. smoothing ----------------------------------------------------------------------------


def _predict(mean: np.ndarray, cov: np.ndarray, dt: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """kalman.predict with one dt per row; also returns the transition matrices (m, 8, 8)."""
    n = len(mean)
    transition = np.repeat(np.eye(8)[None], n, axis=0)
    transition[:, np.arange(4), np.arange(4) + 4] = dt[:, None]
    std = kalman.process_std(kalman.side_scale(mean), rate) * np.sqrt(dt)[:, None]
    noise = np.zeros((n, 8, 8))
    noise[:, np.arange(8), np.arange(8)] = std * std
    mean = np.einsum("nij,nj->ni", transition, mean)
    cov = transition @ cov @ transition.transpose(0, 2, 1) + noise
    return mean, cov, transition


def rts_smooth(frames: np.ndarray, boxes: np.ndarray, groups: np.ndarray, rate: float = 1.0) -> np.ndarray:
    """Smoothed (n, 8) states for rows grouped into tracks (`groups`), frames increasing in each;
    `rate` is the online filter's (`kalman.noise_rate`), so both assume the same motion.

    Tracks are independent, so they are smoothed in chunks of whole tracks of about
    `SMOOTH_CHUNK_ROWS` rows: the pass's memory then follows the chunk, not the length of the
    video (the backward pass keeps one 8x8 gain per row of a chunk).
    """
    n = len(frames)
    states = np.zeros((n, 8))
    if n == 0:
        return states
    order = np.lexsort((frames, groups))
    g = groups[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    bounds = [0]
    for start in starts[1:].tolist():
        if start - bounds[-1] >= SMOOTH_CHUNK_ROWS:
            bounds.append(start)
    bounds.append(n)
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]
        states[rows] = _smooth_tracks(frames[rows], boxes[rows], g[a:b], rate)
    return states


def _smooth_tracks(frames: np.ndarray, boxes: np.ndarray, groups: np.ndarray, rate: float) -> np.ndarray:
    """`rts_smooth` on rows already sorted by (group, frame).

    All tracks advance together, one observation per step: the Python loop runs over the length of
    the longest track, not over the rows. The forward pass keeps each row's filtered and predicted
    means and the smoother gain C_k = P_k F^T (P_{k+1|k})^-1 (computed as soon as the prediction
    exists); the smoothed means need nothing else.
    """
    n = len(frames)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    lengths = np.diff(np.r_[starts, n])
    steps = int(lengths.max())
    filt_m = np.zeros((n, 8))
    pred_m = np.zeros((n, 8))
    gain = np.zeros((n, 8, 8))  # of the row's own step (unset on a track's last row)
    # at_step[k] = the rows at step k of every track that is that long
    at_step = [starts[lengths > k] + k for k in range(steps)]
    m, P = kalman.initiate(boxes[at_step[0]], rate)
    filt_m[at_step[0]] = m
    for k in range(1, steps):
        rows = at_step[k]
        alive = lengths > k
        prev = at_step[k - 1][alive[lengths > k - 1]]
        P_prev = P[alive[lengths > k - 1]]
        dt = (frames[rows] - frames[prev]).astype(np.float64)
        mp, Pp, F = _predict(filt_m[prev], P_prev, dt, rate)
        # C = P_k F^T (P_{k+1|k})^-1, via a solve: P_{k+1|k} is symmetric
        gain[prev] = np.linalg.solve(Pp, F @ P_prev).transpose(0, 2, 1)
        pred_m[rows] = mp
        filt_m[rows], P = kalman.update(mp, Pp, boxes[rows])
    states = np.zeros((n, 8))
    states[at_step[-1]] = filt_m[at_step[-1]]
    for k in range(steps - 2, -1, -1):
        rows = at_step[k]
        has_next = lengths[lengths > k] > k + 1
        last = rows[~has_next]
        states[last] = filt_m[last]
        rows = rows[has_next]
        if len(rows) == 0:
            continue
        nxt = at_step[k + 1]
        states[rows] = filt_m[rows] + np.einsum("nij,nj->ni", gain[rows], states[nxt] - pred_m[nxt])
    return states


# ---- 2. linking ------------------------------------------------------------------------------


@dataclass
class _Entity:
    id: int
    label: int
    rows: np.ndarray  # observation rows, frame order
    first: int
    last: int


@dataclass
class LinkReport:
    """What linking saw and decided; goes to run.json."""

    bar: float | None = None
    margin: float | None = None
    bar_source: str = "none"  # video | prior | blend | none (no embeddings)
    same_pairs: int = 0
    different_pairs: int = 0
    same_median: float | None = None
    different_p99: float | None = None
    links: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items() if k != "links"}
        out["links"] = self.links
        return out


def covered_fraction(obs: Observations) -> np.ndarray:
    """Per row, the largest fraction of its box that another box of the same frame covers."""
    out = np.zeros(len(obs))
    boundaries = np.flatnonzero(np.r_[True, obs.frame[1:] != obs.frame[:-1], True])
    for a, b in zip(boundaries[:-1], boundaries[1:]):
        if b - a < 2:
            continue
        out[a:b] = max_ioa(obs.det[a:b])
    return out


def _mean_rows(embeddings: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Unit mean of unit rows (non-finite rows skipped), read from disk `MEAN_BLOCK` rows at a
    time: an entity seen for an hour must not need its whole history in memory at once."""
    if len(rows) == 0:
        return None
    rows = np.sort(rows)
    total, seen = None, False
    for start in range(0, len(rows), MEAN_BLOCK):
        block = np.asarray(embeddings[rows[start:start + MEAN_BLOCK]], np.float64)
        norms = np.linalg.norm(block, axis=1)
        ok = np.isfinite(norms) & (norms > 0)
        if not ok.any():
            continue
        part = (block[ok] / norms[ok, None]).sum(axis=0)
        total, seen = (part if total is None else total + part), True
    if not seen:
        return None
    norm = np.linalg.norm(total)
    return total / norm if norm > 0 else None


def _cooccurring(obs: Observations, index: dict[int, int], n: int) -> np.ndarray:
    """(n, n) True where two entities were reported in one frame: certainly different objects.

    Frames with the same set of entities as the previous one add nothing, so the work follows
    the changes in who is visible, not the number of frames.
    """
    out = np.zeros((n, n), bool)
    boundaries = np.flatnonzero(np.r_[True, obs.frame[1:] != obs.frame[:-1], True])
    previous: frozenset | None = None
    for a, b in zip(boundaries[:-1], boundaries[1:]):
        present = frozenset(obs.entity[a:b].tolist())
        if present == previous or len(present) < 2:
            previous = present
            continue
        previous = present
        ids = np.array([index[e] for e in present])
        out[np.ix_(ids, ids)] = True
    np.fill_diagonal(out, False)
    return out


def fit_bar(same: np.ndarray, different: np.ndarray, prior: float) -> tuple[float, float, str]:
    """Open-set bar and margin from this video's own pairs; the prior while evidence is thin.

    Precision first: the bar sits at the 99th percentile of different-object similarities, or
    midway to the same-object 5th percentile when the two are apart, and never more than two
    standard deviations below the same-object median. The margin is the spread
    (one standard deviation) of same-object similarities: how much the similarity of one object
    to itself varies, so a runner-up closer than that is not told apart.
    """
    if len(different) == 0:
        return prior, THIN_MARGIN, "prior"
    high_different = float(np.quantile(different, 0.99))
    fitted = high_different
    if len(same):
        low_same = float(np.quantile(same, 0.05))
        if low_same > high_different:
            fitted = (low_same + high_different) / 2.0
    if len(same) >= MIN_SAME_PAIRS:
        # and it must look like the same object as much as objects here look like themselves:
        # within two standard deviations of the same-object similarities (two look-alikes that
        # are merely closer than strangers stay apart)
        fitted = max(fitted, float(np.median(same) - 2.0 * np.std(same)))
    margin = max(MIN_MARGIN, float(np.std(same))) if len(same) >= 3 else THIN_MARGIN
    weight = min(1.0, len(different) / FULL_EVIDENCE)
    if weight >= 1.0:
        return fitted, margin, "video"
    return weight * fitted + (1.0 - weight) * max(prior, fitted), margin, "blend"


def _touches_edge(box: np.ndarray, size: tuple[int, int] | None) -> bool:
    if size is None:
        return False
    width, height = size
    mx, my = EDGE_FRACTION * width, EDGE_FRACTION * height
    return bool(box[0] <= mx or box[1] <= my or box[2] >= width - mx or box[3] >= height - my)


# (coordinate of the box's inner edge, +1 if moving out of view increases it) per border:
# the edge still in view moves with the object while the outer one sticks to the border.
_BORDERS = {"left": (2, -1.0), "top": (3, -1.0), "right": (0, 1.0), "bottom": (1, 1.0)}


def cut_sides(box: np.ndarray, size: tuple[int, int]) -> set[str]:
    """The frame borders an xyxy box reaches (within `BORDER_TOLERANCE` of its own size): the object
    may be partly out of view there. Meant for detections (a detector boxes the visible part; a
    smoothed box lags). Stricter than `_touches_edge`: someone near the edge in full view does not
    count."""
    width, height = size
    tx = max(BORDER_MIN_PX, BORDER_TOLERANCE * (box[2] - box[0]))
    ty = max(BORDER_MIN_PX, BORDER_TOLERANCE * (box[3] - box[1]))
    sides = {"left": box[0] <= tx, "top": box[1] <= ty, "right": box[2] >= width - tx, "bottom": box[3] >= height - ty}
    return {side for side, cut in sides.items() if cut}


def _edge_speed(times: np.ndarray, coords: np.ndarray) -> float | None:
    """Least-squares speed (pixels/s) of an edge over a few views; None from fewer than two."""
    if len(times) < 2 or np.ptp(times) <= 0:
        return None
    return float(np.polyfit(times, coords, 1)[0])


def left_and_came_back(times: np.ndarray, boxes: np.ndarray, seen: np.ndarray, k: int, size: tuple[int, int]) -> bool:
    """Did the object walk out of view after row k and back in at row k + 1 (rows of one entity)?

    Both views are cut by the same border; before the gap the edge still in view moved out through
    it, after the gap in; and the gap lasts at least the time to carry the visible part out at the
    speed before it plus in at the speed after it. A person walking along the edge and missed
    while half visible moves along it or one way only, and is filled as before. `seen`: the
    detections (cut test, distances), `boxes`: the smoothed boxes (speeds).
    """
    sides = cut_sides(seen[k], size) & cut_sides(seen[k + 1], size)
    gap_s = times[k + 1] - times[k]
    before, after = slice(max(k - EXIT_VIEWS + 1, 0), k + 1), slice(k + 1, k + 1 + EXIT_VIEWS)
    for side in sides:
        coord, out = _BORDERS[side]
        speed_out, speed_in = _edge_speed(times[before], boxes[before, coord]), _edge_speed(times[after], boxes[after, coord])
        if speed_out is None or speed_in is None or out * speed_out <= 0 or -out * speed_in <= 0:
            continue
        border = 0.0 if out < 0 else float(size[coord])  # x0 meets the right border (width), y0 the bottom
        to_leave, to_return = abs(border - seen[k, coord]), abs(border - seen[k + 1, coord])
        if gap_s >= to_leave / (out * speed_out) + to_return / (-out * speed_in):
            return True
    return False


def link_entities(
    obs: Observations,
    states: np.ndarray,
    embeddings: np.ndarray | None,
    settings: OfflineSettings,
    frame_size: tuple[int, int] | None,
    seconds_per_frame: float,
    image_det: np.ndarray | None = None,
) -> tuple[dict[int, int], LinkReport]:
    """Entity id -> the id it joins (chains resolved), and the report. `image_det`: the detections
    in image pixels when `obs` holds camera-stabilised ones (the frame's borders are the image's)."""
    report = LinkReport()
    ids = np.unique(obs.entity)
    n = len(ids)
    if n < 2:
        return {}, report
    if n > MAX_LINK_ENTITIES:  # the pairwise matrices grow with n squared: stay bounded, and say so
        report.bar_source = f"skipped: {n} entities > {MAX_LINK_ENTITIES}"
        log.warning("offline pass: %d entities, more than %d; tracklet linking skipped", n, MAX_LINK_ENTITIES)
        return {}, report
    index = {int(e): i for i, e in enumerate(ids)}
    entities = [_Entity(int(obs.entity[rows[0]]), int(obs.label[rows[0]]), rows, int(obs.frame[rows[0]]), int(obs.frame[rows[-1]]))
                for rows in _entity_rows(obs.frame, obs.entity)]
    first = np.array([e.first for e in entities])
    last = np.array([e.last for e in entities])
    label = np.array([e.label for e in entities])
    cooc = _cooccurring(obs, index, n)
    feasible = (label[:, None] == label[None, :]) & (last[:, None] < first[None, :])

    # ends and starts: smoothed centre, velocity (per frame) and height
    end_c = np.array([states[e.rows[-1], :2] for e in entities])
    end_v = np.array([states[e.rows[-1], 4:6] for e in entities])
    end_h = np.array([max(states[e.rows[-1], 3], 1.0) for e in entities])
    start_c = np.array([states[e.rows[0], :2] for e in entities])
    start_h = np.array([max(states[e.rows[0], 3], 1.0) for e in entities])
    edge_det = obs.det if image_det is None else image_det
    end_edge = np.array([_touches_edge(edge_det[e.rows[-1]], frame_size) for e in entities])
    start_edge = np.array([_touches_edge(edge_det[e.rows[0]], frame_size) for e in entities])
    gap_frames = np.maximum(first[None, :] - last[:, None], 1).astype(np.float64)
    gap_s = gap_frames * seconds_per_frame
    jump = np.linalg.norm(start_c[None, :, :] - end_c[:, None, :], axis=2) / end_h[:, None]
    plausible = (jump / np.maximum(gap_s, 1e-9) <= MAX_SPEED_HEIGHTS_S) | (end_edge[:, None] & start_edge[None, :])

    # motion: where the end's constant-velocity extrapolation lands, in heights of the end box
    landing = end_c[:, None, :] + end_v[:, None, :] * gap_frames[:, :, None]
    miss = np.linalg.norm(start_c[None, :, :] - landing, axis=2) / end_h[:, None]
    radius = GATE_HEIGHTS + GATE_GROWTH_HEIGHTS_S * gap_s
    size_ok = np.abs(np.log(start_h[None, :] / end_h[:, None])) <= np.log(1.5)
    # A candidate in the spatial gate a little later than the time limit is still evidence that
    # motion cannot choose; only those within the limit may be linked.
    could_be = feasible & size_ok & (miss <= radius) & (gap_s <= RIVAL_WINDOW * settings.link_motion_s)
    in_gate = could_be & (gap_s <= settings.link_motion_s)

    means = None
    if embeddings is not None:
        covered = covered_fraction(obs)
        clean = (obs.emb_row >= 0) & (covered < COVERED_IOA) & (obs.conf >= settings.high_score)
        usable = obs.emb_row >= 0
        means = np.zeros((n, embeddings.shape[1] if embeddings.ndim == 2 else 0))
        has = np.zeros(n, bool)
        same = []
        for i, e in enumerate(entities):
            pick = e.rows[clean[e.rows]]
            if len(pick) == 0:
                pick = e.rows[usable[e.rows]]
            mean = _mean_rows(embeddings, obs.emb_row[pick])
            if mean is not None:
                means[i], has[i] = mean, True
        clean_rows = np.flatnonzero(clean)
        by_track = clean_rows[np.argsort(obs.track[clean_rows], kind="stable")]
        cuts = np.flatnonzero(np.diff(obs.track[by_track])) + 1
        for rows in np.split(by_track, cuts) if len(by_track) else []:
            if len(rows) >= 2 * MIN_HALF_VIEWS:
                half = len(rows) // 2
                a, b = _mean_rows(embeddings, obs.emb_row[rows[:half]]), _mean_rows(embeddings, obs.emb_row[rows[half:]])
                if a is not None and b is not None:
                    same.append(float(a @ b))
        sim = means @ means.T
        both = has[:, None] & has[None, :]
        different = sim[np.triu(cooc & both, 1)]
        same_arr = np.array(same)
        bar, margin, source = fit_bar(same_arr, different, settings.reid_prior)
        report.bar, report.margin, report.bar_source = bar, margin, source
        report.same_pairs, report.different_pairs = len(same_arr), int(len(different))
        report.same_median = float(np.median(same_arr)) if len(same_arr) else None
        report.different_p99 = float(np.quantile(different, 0.99)) if len(different) else None
        typical_different = float(np.median(different)) if len(different) else -1.0
        # How much the similarity of two different objects varies here: a difference smaller than
        # this between two candidates says nothing about which one is the object.
        # Only on a fully fitted bar (FULL_EVIDENCE different pairs): a spread from a handful of
        # pairs could be near zero, and any difference would then look decisive.
        separation = max(margin, float(np.std(different))) if source == "video" else np.inf

    allowed = np.zeros((n, n), bool)
    cost = np.ones((n, n))
    kind = np.zeros((n, n), np.int8)  # index into _LINK_KINDS
    if means is not None:
        candidates = feasible & plausible & both & (sim >= bar)
        for i, j in zip(*np.nonzero(candidates)):
            # rivals: feasible alternatives that are surely not the chosen one (seen with it)
            row_rival = sim[i, feasible[i] & both[i] & cooc[j]]
            col_rival = sim[feasible[:, j] & both[:, j] & cooc[i], j]
            rival = max(row_rival.max(initial=-1.0), col_rival.max(initial=-1.0))
            if sim[i, j] - rival >= margin:
                allowed[i, j], cost[i, j], kind[i, j] = True, 1.0 - sim[i, j], 1
    for i, j in zip(*np.nonzero(in_gate & ~allowed)):
        rivals = could_be[i] & cooc[j]
        col_rivals = could_be[:, j] & cooc[i]
        had_rivals = rivals.any() or col_rivals.any()
        if had_rivals and means is not None and both[i, j] and np.isfinite(separation) \
                and sim[i, j] >= typical_different + TIE_BREAK_SPREADS * separation:
            # Where motion cannot choose, appearance may, when the candidate stands out from what
            # different objects score here: a rival that looks less like the object than the
            # candidate does, by more than different objects' similarities vary, is no rival.
            rivals &= ~(both[i] & (sim[i, j] - sim[i] >= separation))
            col_rivals &= ~(both[:, j] & (sim[i, j] - sim[:, j] >= separation))
        if rivals.any() or col_rivals.any():
            continue  # two objects could have gone there: motion cannot tell which
        if means is not None and both[i, j] and sim[i, j] < typical_different:
            continue  # looks like another object
        allowed[i, j], cost[i, j], kind[i, j] = True, 1.0 + miss[i, j] / radius[i, j], 3 if had_rivals else 2
    if not allowed.any():
        return {}, report
    rows, cols = linear_sum_assignment(np.where(allowed, cost, 1e6))
    keep = allowed[rows, cols]
    successor = {int(r): int(c) for r, c in zip(rows[keep], cols[keep])}
    predecessor = {c: r for r, c in successor.items()}
    aliases: dict[int, int] = {}
    for start in range(n):
        if start in predecessor:
            continue
        node = start
        while node in successor:
            nxt = successor[node]
            aliases[entities[nxt].id] = entities[start].id
            report.links.append({
                "from": entities[node].id, "to": entities[nxt].id, "by": _LINK_KINDS[int(kind[node, nxt])],
                "gap_s": round(float(gap_s[node, nxt]), 3),
                "similarity": round(float(sim[node, nxt]), 4) if means is not None and both[node, nxt] else None,
            })
            node = nxt
    return aliases, report


# ---- 3. interpolation ------------------------------------------------------------------------


def run_lengths(entity_frames: np.ndarray, processed_frames: np.ndarray) -> np.ndarray:
    """Lengths of the stretches of processed frames in a row on which the entity was seen
    (`entity_frames` ascend; empty for no frames)."""
    index = np.searchsorted(processed_frames, entity_frames)
    breaks = np.flatnonzero(np.diff(index) != 1)
    return np.diff(np.r_[-1, breaks, len(index) - 1]) if len(index) else np.zeros(0, np.int64)


def longest_run(entity_frames: np.ndarray, processed_frames: np.ndarray) -> int:
    """Most processed frames in a row on which the entity was seen (`entity_frames` ascend)."""
    runs = run_lengths(entity_frames, processed_frames)
    return int(runs.max()) if len(runs) else 0


def steady(entity_frames: np.ndarray, processed_frames: np.ndarray, min_run: int) -> bool:
    """Detected steadily: `min_run` processed frames in a row somewhere, or (a short life) on at
    least DENSE_FRACTION of the processed frames from its first to its last view with a run of
    DENSE_MIN_RUN."""
    run = longest_run(entity_frames, processed_frames)
    if run >= min_run:
        return True
    first, last = np.searchsorted(processed_frames, entity_frames[[0, -1]])
    return run >= DENSE_MIN_RUN and len(entity_frames) >= DENSE_FRACTION * (last - first + 1)


def gap_fill(
    entity_frames: np.ndarray,
    entity_times: np.ndarray,
    boxes: np.ndarray,
    processed_frames: np.ndarray,
    processed_times: np.ndarray,
    limit_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear boxes for the processed frames inside gaps of at most `limit_s` seconds.

    Returns (frames, times, boxes, previous-row index) of the new rows; `entity_frames` ascend.
    """
    out_f, out_t, out_b, out_prev = [], [], [], []
    for k in np.flatnonzero(np.diff(entity_frames) > 1):
        f0, f1 = entity_frames[k], entity_frames[k + 1]
        if entity_times[k + 1] - entity_times[k] > limit_s + 1e-9:
            continue
        lo, hi = np.searchsorted(processed_frames, [f0 + 1, f1])
        frames = processed_frames[lo:hi]
        if len(frames) == 0:
            continue
        alpha = ((frames - f0) / (f1 - f0))[:, None]
        out_f.append(frames)
        out_t.append(processed_times[lo:hi])
        out_b.append((1 - alpha) * boxes[k] + alpha * boxes[k + 1])
        out_prev.append(np.full(len(frames), k))
    if not out_f:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 4)), np.zeros(0, np.int64)
    return np.concatenate(out_f), np.concatenate(out_t), np.concatenate(out_b), np.concatenate(out_prev)


# ---- the pass --------------------------------------------------------------------------------


@dataclass
class FinalRows:
    """The episode's rows after the pass, sorted by (frame, entity); `source` is the online row or -1."""

    frame: np.ndarray
    time_s: np.ndarray
    entity: np.ndarray
    track: np.ndarray
    label: np.ndarray
    labels: list[str]
    box: np.ndarray
    det: np.ndarray  # NaN for interpolated rows
    conf: np.ndarray
    source: np.ndarray  # online row (its embedding row), -1 = interpolated
    backfilled: np.ndarray | None = None  # True: a tentative track's detection, added by the pass (`Observations.late`)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def interpolated(self) -> np.ndarray:
        return self.source < 0


@dataclass
class OfflineResult:
    rows: FinalRows
    aliases: dict[int, int]  # online entity -> final entity (linking only)
    report: dict
    had_embedding: np.ndarray | None = None  # per online row, filled by the caller


def run_pass(
    obs: Observations,
    embeddings: np.ndarray | None,
    settings: OfflineSettings,
    processed_frames: np.ndarray,
    processed_times: np.ndarray,
    frame_size: tuple[int, int] | None = None,
    camera_warps: np.ndarray | None = None,
) -> OfflineResult:
    """Smooth, link and interpolate; `processed_frames` (1-based, ascending) are the frames the
    online stage saw (with `video.fps` sampling, not every frame), with their times.

    `camera_warps` (one 2x3 a processed frame, `camera_to_reference`): with a moving camera the
    pass works in the first frame's coordinates and returns every box to its own frame; the
    tests against the frame's borders still look at the image."""
    if not settings.backfill and obs.late.any():  # rows `source` names stay those of `obs`
        kept = np.flatnonzero(~obs.late)
        result = run_pass(obs.take(kept), embeddings, settings, processed_frames, processed_times, frame_size, camera_warps)
        result.rows.source = np.where(result.rows.source >= 0, kept[np.maximum(result.rows.source, 0)], -1)
        result.report["backfill_left_out"] = int(len(obs) - len(kept))
        return result
    n = len(obs)
    to_reference = camera_to_reference(camera_warps) if n else None
    image = obs
    to_image = None
    if to_reference is not None:
        at = np.searchsorted(processed_frames, obs.frame)
        obs = dataclasses.replace(obs, box=cmc.boxes_through(obs.box, to_reference[at]), det=cmc.boxes_through(obs.det, to_reference[at]))
        back = cmc.invert_affines(to_reference)

        def to_image(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
            return cmc.boxes_through(boxes, back[np.searchsorted(processed_frames, frames)])
    report: dict = {"smooth": settings.smooth, "interpolate_s": settings.interpolate_s,
                    "interpolate_min_run": settings.interpolate_min_run,
                    "interpolate_exits": settings.interpolate_exits, "link": settings.link,
                    "drop_unsupported": settings.drop_unsupported,
                    "trim_unsupported": settings.drop_unsupported and settings.trim_unsupported,  # trimming is part of dropping
                    "backfill": settings.backfill}
    seconds_per_frame = _seconds_per_frame(processed_frames, processed_times)
    rate = kalman.noise_rate(seconds_per_frame, settings.noise_fps)
    states = rts_smooth(obs.frame, obs.det, obs.track, rate) if n else np.zeros((0, 8))
    box = kalman.state_to_xyxy(states) if settings.smooth and n else obs.box.copy()
    entity = obs.entity.copy()
    aliases: dict[int, int] = {}
    late = obs.late
    has_late = bool(late.any())
    if settings.link and n:
        # Linking sees what the online tracker reported: a track's tentative start often overlaps the
        # end of the track it continues (a new box beside a drifting one), which would forbid the link.
        online = np.flatnonzero(~late) if has_late else slice(None)
        aliases, link_report = link_entities(obs.take(online) if has_late else obs, states[online], embeddings, settings,
                                             frame_size, seconds_per_frame, image.det[online])
        entity = np.array([aliases.get(int(e), int(e)) for e in entity], np.int64) if aliases else entity
        report["linking"] = link_report.to_dict()
    frame, time_s, track, label, conf, det = obs.frame, obs.time_s, obs.track, obs.label, obs.conf, obs.det
    source = np.arange(n, dtype=np.int64)
    columns = (frame, time_s, entity, track, label, conf, det, box, source)
    if has_late:  # a backfilled row where its (linked) entity already has one in that frame goes
        clash = late_clashes(frame, entity, late)
        report["backfilled_rows"] = int((late & ~clash).sum())
        report["backfill_clashes"] = int(clash.sum())
        if clash.any():
            columns = tuple(c[~clash] for c in columns)
            frame, time_s, entity, track, label, conf, det, box, source = columns
    if settings.drop_unsupported and len(frame):
        dropped = unsupported_entities(frame, entity, track, box, processed_frames, settings.interpolate_min_run)
        report["dropped_entities"] = dropped.tolist()
        report["dropped_rows"] = 0
        keep = ~np.isin(entity, dropped)
        if settings.trim_unsupported:
            ends = unsupported_ends(frame, entity, track, box, processed_frames, settings.interpolate_min_run) & keep
            report["trimmed_rows"] = int(ends.sum())
            report["trimmed"] = _trimmed_spans(frame, entity, ends)
            keep &= ~ends
        if not keep.all():
            report["dropped_rows"] = int(len(keep) - keep.sum())
            frame, time_s, entity, track, label, conf, det, box, source = (c[keep] for c in columns)
    if settings.interpolate_s > 0 and len(frame):
        add = interpolate_entities(frame, time_s, entity, box, processed_frames, processed_times,
                                   settings.interpolate_s, settings.interpolate_min_run,
                                   None if settings.interpolate_exits else frame_size, det, to_image)
        if add is not None and frame_size is not None:  # a fill mostly out of the picture shows nothing there
            filled = add[2] if to_image is None else to_image(add[0], add[2])
            in_view = visible_fraction(filled, frame_size) >= MIN_FILL_VISIBLE
            report["fills_out_of_view"] = int((~in_view).sum())
            add = tuple(part[in_view] for part in add) if in_view.any() else None
        if add is not None:
            f, t, b, prev = add
            frame = np.r_[frame, f]
            time_s = np.r_[time_s, t]
            entity = np.r_[entity, entity[prev]]
            track = np.r_[track, track[prev]]
            label = np.r_[label, label[prev]]
            conf = np.r_[conf, conf[prev]]
            det = np.r_[det, np.full((len(f), 4), np.nan)]
            box = np.r_[box, b]
            source = np.r_[source, np.full(len(f), -1, np.int64)]
        report["interpolated_rows"] = int((source < 0).sum())
    if to_image is not None:  # every box back to its own frame; detections as they came
        original = source >= 0
        box = to_image(frame, box)
        if not settings.smooth:  # rows not smoothed keep their reported box exactly
            box[original] = image.box[source[original]]
        det = np.full_like(det, np.nan)
        det[original] = image.det[source[original]]
    order = np.lexsort((entity, frame))
    backfilled = np.zeros(len(source), bool)
    backfilled[source >= 0] = obs.late[source[source >= 0]]
    rows = FinalRows(frame[order], time_s[order], entity[order], track[order], label[order], obs.labels,
                     box[order], det[order], conf[order], source[order], backfilled[order])
    return OfflineResult(rows=rows, aliases=aliases, report=report)


def late_clashes(frame: np.ndarray, entity: np.ndarray, late: np.ndarray) -> np.ndarray:
    """(n,) True for late (backfilled) rows whose (frame, entity) another row already holds: an
    entity has one box a frame, and the online tracker's row wins."""
    out = np.zeros(len(frame), bool)
    if not late.any():
        return out
    order = np.lexsort((late, entity, frame))  # in each (frame, entity): online rows first
    f, e = frame[order], entity[order]
    repeat = np.r_[False, (f[1:] == f[:-1]) & (e[1:] == e[:-1])]
    out[order[repeat]] = True
    return out & late


def camera_to_reference(warps: np.ndarray | None) -> np.ndarray | None:
    """(n, 2, 3) per processed frame: its pixel coordinates -> the first processed frame's, composed
    from the camera warps the tracker applied (`warps[i]`: frame i-1 -> frame i, identity where
    none was applied). None when the camera never moved: nothing to undo.

    Smoothing, gap filling and motion links assume objects move steadily. Under a panning or
    zooming camera they do in these coordinates, not in the image's: a 30 px-a-frame pan turned
    smoothed and filled boxes into boxes on nothing (benchmarks/README.md, "A moving camera on
    real pixels"). Any drift of the composition is the same forwards and back, so rows return
    exactly to their frames.
    """
    if warps is None or len(warps) == 0:
        return None
    warps = np.asarray(warps, np.float64).reshape(-1, 2, 3)
    if not cmc.moved(warps).any():
        return None
    out = np.empty_like(warps)
    total = np.eye(3)
    try:
        for i, warp in enumerate(warps):
            if i:
                total = total @ np.linalg.inv(np.vstack([warp, [0.0, 0.0, 1.0]]))
            out[i] = total[:2]
        cmc.invert_affines(out)  # every frame must come back from the reference too
    except np.linalg.LinAlgError:
        out[:] = np.nan
    if not np.isfinite(out).all():  # a degenerate estimate: stay in the image's coordinates, as online
        log.warning("offline pass: the camera's motion cannot be undone (a degenerate warp); working in image coordinates")
        return None
    return out


def visible_fraction(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Per xyxy box, the fraction of its area inside a `size` (width, height) image."""
    width, height = size
    inside_w = np.clip(np.minimum(boxes[:, 2], width) - np.maximum(boxes[:, 0], 0.0), 0.0, None)
    inside_h = np.clip(np.minimum(boxes[:, 3], height) - np.maximum(boxes[:, 1], 0.0), 0.0, None)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0.0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0.0, None)
    return np.where(area > 0, inside_w * inside_h / np.maximum(area, 1e-12), 0.0)


def _seconds_per_frame(frames: np.ndarray, times: np.ndarray) -> float:
    if len(frames) >= 2 and frames[-1] > frames[0] and times[-1] > times[0]:
        return float((times[-1] - times[0]) / (frames[-1] - frames[0]))
    return 1.0 / 25.0


def interpolate_entities(frame: np.ndarray, time_s: np.ndarray, entity: np.ndarray, box: np.ndarray,
                         processed_frames: np.ndarray, processed_times: np.ndarray, limit_s: float,
                         min_run: int = 0, frame_size: tuple[int, int] | None = None,
                         det: np.ndarray | None = None,
                         to_image: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """New rows (frames, times, boxes, the row before each gap) for every entity's short gaps, or None.

    Interpolation claims the object was there all along. A gap earns that claim when the entity
    was detected steadily somewhere (`steady`: `min_run` processed frames in a row, as a real
    object in view is whatever its occlusions, or 75% of a short life), or when the gap itself is
    explained: on at least half of its frames the filled box lies at least half under another
    entity's reported box (the object was hidden). A false positive that fires on a third of the
    frames meets neither (8 hits in a row at p = 0.3 happen about once in 15,000 frames), yet
    without the rule its short gaps would all be filled: on replays with such clutter more than
    half of the filled rows were on nothing (benchmarks/README.md, "A real detector's faults").

    With `frame_size` (and `det`, the detections behind the rows; NaN rows use `box`), a gap in
    which the object walked out of view and came back (`left_and_came_back`) needs the hidden
    test even in a steady entity: a filled box would stand at the edge where nobody is (PETS09: a
    man leaves at the right edge and returns there 2.1 s later; benchmarks/README.md, "Gaps
    where the object left the view").
    """
    others = _Others(frame, entity, box)
    parts = []
    for rows in _entity_rows(frame, entity):
        f, t, bx, prev = gap_fill(frame[rows], time_s[rows], box[rows], processed_frames, processed_times, limit_s)
        if not len(f):
            continue
        judge = np.zeros(len(f), bool)  # gaps that must be explained by an occluder
        if min_run > 0 and not steady(frame[rows], processed_frames, min_run):
            judge[:] = True
        elif frame_size is not None:
            seen = box[rows] if det is None else np.where(np.isnan(det[rows]), box[rows], det[rows])
            moved = box[rows]
            if to_image is not None:  # leaving the view is about the image's borders, not the scene's
                seen, moved = to_image(frame[rows], seen), to_image(frame[rows], moved)
            for gap in np.unique(prev):
                if left_and_came_back(time_s[rows], moved, seen, int(gap), frame_size):
                    judge[prev == gap] = True
        if judge.any():
            hidden = others.cover(f, bx, int(entity[rows[0]])) >= HIDDEN_IOA
            keep = ~judge
            for gap in np.unique(prev[judge]):
                in_gap = prev == gap
                keep[in_gap] = hidden[in_gap].mean() >= 0.5
            f, t, bx, prev = f[keep], t[keep], bx[keep], prev[keep]
        if len(f):
            parts.append((f, t, bx, rows[prev]))
    if not parts:
        return None
    return tuple(np.concatenate(p) for p in zip(*parts))


def unsupported_entities(frame: np.ndarray, entity: np.ndarray, track: np.ndarray, box: np.ndarray,
                         processed_frames: np.ndarray, min_run: int) -> np.ndarray:
    """Entity ids the video does not support as objects (sorted), to leave out of the final rows.

    An object in view is detected on most frames unless something hides it. An entity that was
    never seen steadily (`steady`, with `min_run`) is dropped when its rows fail `_unsupported`:
    seen on too few of the frames its tracks held it, in short runs, with misses nothing hides or
    boxes inside another entity's (a background spot the detector fires on now and then, which
    `min_hits` in a row once confirmed; an upper-body duplicate box). Measured in
    benchmarks/README.md, "Unsupported entities". `min_run` 0 means every entity is steady: none is
    dropped. Decided on all entities at once, so the order of the entities does not matter.
    """
    if min_run <= 0 or len(frame) == 0:
        return np.zeros(0, np.int64)
    context = _Others(frame, entity, box)
    out = []
    for rows in _entity_rows(frame, entity):
        if steady(frame[rows], processed_frames, min_run):
            continue
        if _unsupported(rows, frame, track, box, processed_frames, context):
            out.append(int(entity[rows[0]]))
    return np.array(sorted(out), np.int64)


def unsupported_ends(frame: np.ndarray, entity: np.ndarray, track: np.ndarray, box: np.ndarray,
                     processed_frames: np.ndarray, min_run: int) -> np.ndarray:
    """(n,) True on rows of a steady entity's sporadic start or end, to leave out of the final rows.

    A track can be confirmed on one object and drift onto a background spot the detector fires
    on now and then (or start on a few duplicate boxes and then find its object): the entity is
    steady, so `unsupported_entities` keeps all of it, and gap filling then draws boxes through
    every miss of the sporadic part. The rows before an entity's first steady run (`min_run`
    frames in a row) and those after its last are judged as `unsupported_entities` judges a whole
    entity, and left out when they fail. A lone view is kept: one row says nothing of support.
    The inside-another-box test is not applied to ends: a person at the back of a group, arriving
    or leaving, stands mostly inside the box of the one in front (on the TUD-Campus replays it
    cost true rows and gained nothing). Measured in benchmarks/README.md, "Unsupported starts and
    ends".
    """
    drop = np.zeros(len(frame), bool)
    if min_run <= 0 or len(frame) == 0:
        return drop
    context = _Others(frame, entity, box)
    for rows in _entity_rows(frame, entity):
        runs = run_lengths(frame[rows], processed_frames)
        solid = np.flatnonzero(runs >= min_run)
        if len(solid) == 0:
            continue  # not steady by a run: the whole entity is `unsupported_entities`' call
        run_of = np.repeat(np.arange(len(runs)), runs)
        for part in (rows[run_of < solid[0]], rows[run_of > solid[-1]]):
            if len(part) >= 2 and _unsupported(part, frame, track, box, processed_frames, context, shadows=False):
                drop[part] = True
    return drop


def _trimmed_spans(frame: np.ndarray, entity: np.ndarray, trimmed: np.ndarray) -> list[dict]:
    """run.json's account of trimmed rows: for each entity, the start and/or end that went."""
    out = []
    for rows in _entity_rows(frame, entity):
        cut = trimmed[rows]
        if not cut.any():
            continue
        first_kept = frame[rows][~cut][0]  # the first steady run is never trimmed
        for part in (rows[cut & (frame[rows] < first_kept)], rows[cut & (frame[rows] > first_kept)]):
            if len(part):
                out.append({"entity": int(entity[rows[0]]), "first_frame": int(frame[part].min()),
                            "last_frame": int(frame[part].max()), "rows": int(len(part))})
    return out


def _entity_rows(frame: np.ndarray, entity: np.ndarray) -> list[np.ndarray]:
    """Each entity's row indices, in time."""
    order = np.lexsort((frame, entity))
    bounds = np.flatnonzero(np.r_[True, entity[order][1:] != entity[order][:-1], True])
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


class _Others:
    """Every row's entity and box, indexed by frame: what covers a given box on a given frame."""

    def __init__(self, frame: np.ndarray, entity: np.ndarray, box: np.ndarray) -> None:
        self.entity, self.box = entity, box
        self.by_frame = np.argsort(frame, kind="stable")
        self.sorted_frames = frame[self.by_frame]

    def cover(self, frames: np.ndarray, boxes: np.ndarray, own: int) -> np.ndarray:
        """(n,) the most of each (frame, box) that one box of an entity other than `own` covers
        there (0 with none)."""
        out = np.zeros(len(frames))
        lo = np.searchsorted(self.sorted_frames, frames, "left")
        hi = np.searchsorted(self.sorted_frames, frames, "right")
        for i in range(len(frames)):
            others = self.by_frame[lo[i]:hi[i]]
            others = others[self.entity[others] != own]
            if len(others):
                out[i] = ioa_matrix(boxes[i:i + 1], self.box[others]).max()
        return out


def _unsupported(rows: np.ndarray, frame: np.ndarray, track: np.ndarray, box: np.ndarray,
                 processed_frames: np.ndarray, others: _Others, shadows: bool = True) -> bool:
    """Whether the video fails to support these rows (one entity's, in time) as an object.

    They are questioned when seen on fewer than SUPPORT_FRACTION of the processed frames their
    online tracks held them (a track's first view to its last; the time between two tracks is an
    absence that memory or linking bridged, not a miss: a re-identified object was out of view),
    and failed when either
    * on most of those missed frames, the linearly interpolated box is not hidden under another
      entity's box (HIDDEN_IOA): nothing explains the misses; or
    * most of the boxes lie SHADOW_IOA inside another entity's box: a second box on that object
      (an upper body, the detector's duplicate) chained from sparse hits, whose misses look
      explained only because its object stands over them.
    Rows seen in runs of DENSE_MIN_RUN frames on average pass whatever their misses: a person
    walking between occluders is seen in stretches, a spot firing on a third of the frames in runs
    of 1.4 on average.
    """
    seen_frames = np.sort(frame[rows])
    frame_times = processed_frames.astype(np.float64)  # gap_fill's limit is off here: frames do as times
    missed, between = [], []
    by_track = rows[np.lexsort((frame[rows], track[rows]))]
    for part in np.split(by_track, np.flatnonzero(np.diff(track[by_track])) + 1):  # one online track each
        f, _, bx, _ = gap_fill(frame[part], frame[part].astype(np.float64), box[part], processed_frames,
                               frame_times, np.inf)
        missed.append(f)
        between.append(bx)
    missed, between = np.concatenate(missed), np.concatenate(between)
    if len(rows) >= SUPPORT_FRACTION * (len(rows) + len(missed)):
        return False
    if len(rows) >= DENSE_MIN_RUN * len(run_lengths(seen_frames, processed_frames)):
        return False
    own = int(others.entity[rows[0]])
    hidden = others.cover(missed, between, own) >= HIDDEN_IOA
    if hidden.mean() < 0.5:
        return True
    return shadows and bool((others.cover(frame[rows], box[rows], own) >= SHADOW_IOA).mean() >= 0.5)
