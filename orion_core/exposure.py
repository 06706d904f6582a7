"""The camera's exposure, read from the video's own background and taken out before embedding.

Auto-exposure, white balance and passing clouds scale every pixel of a frame by the same gains
(a power-law tone curve keeps a gain a gain), so the same coat reads brighter in one frame than
in another and colour and learned features drift with it (PETS with brightness swinging +-30%:
mobilenetv2 HOTA -6.8). The background that the detections do not cover shows the gain: the
ratio, per channel, of a small copy of this frame to one of a reference frame, over the cells
that agree on one ratio. Crops are then divided by it, so every crop looks as if filmed with
the first frame's exposure. The crop itself is never normalised: a dark coat must stay darker
than a light shirt. A steady camera's gains round to 1 and its crops are left untouched.

A still camera keeps its first frame as reference for the whole video, so nothing drifts. A
moving one is compared with the reference view found again by a shift; once that fails (the
view has moved on), the estimate is chained through the previous frame, which becomes the
reference. A view that no shift explains (a cut) keeps the last gain.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .config import EXPOSURE_MODES as MODES

GRID_WIDTH = 64  # columns of the small copy: 12 px cells at 768 wide, so a few pixels of motion barely matter
ROWS_PER_CELL = 3  # image rows averaged into a cell's height (of its 12 at 768x576): the background is smooth
AGREE_LOG = 0.05  # a cell agrees with the frame's gain when its ratio is within ~5% of it, in every channel
# ... or ~15% once the view was re-found by a shift: resampling a moving view at 12 px cells leaves half of
# the cells 5-8% off on real pixels (PETS filmed by a panning camera); further off is something else than
# the background (an undetected passer-by) and is left out of the gain
OUTLIER_LOG = 0.15
AGREE_SHARE = 0.5  # fewer agreeing cells than this: the reference no longer shows this view
MIN_CELLS = 32  # fewer usable cells (a crowd covers the view): keep the last gain
DARK, BRIGHT = 8.0, 247.0  # clipped pixels carry no gain
SEARCH = 8  # the view may move an eighth of its width or height between frames (96 px at 768)
ALIGNED = 0.5  # a weaker correlation than this between consecutive views: a cut, not a pan
LIMIT = 4.0  # gains outside [1/4, 4] are a cut or a black frame, not an exposure


class ExposureGain:
    """Per-frame RGB gains of a video against its first frame, from the background."""

    def __init__(self, mode: str = "on") -> None:
        if mode not in MODES:
            raise ValueError(f"exposure mode {mode!r}; use one of {', '.join(MODES)}")
        self.enabled = mode == "on"
        self._ref: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (cells, usable, gain)
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.stats = {"mode": mode, "frames": 0, "compensated": 0, "reanchors": 0, "held": 0,
                      "gain_min": 1.0, "gain_max": 1.0}

    def update(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray | None:
        """The gains (3,) by which this frame's crops are divided, or None when they change no pixel."""
        if not self.enabled:
            return None
        self.stats["frames"] += 1
        cells, usable = _cells(image, boxes)
        if self._ref is None:
            gain = np.ones(3)
            self._ref = (cells, usable, gain)
        elif int(usable.sum()) < MIN_CELLS:  # a crowd or a clipped frame hides the background: keep the last gain
            self.stats["held"] += 1
            return self._report(self._prev[2])  # the previous frame stays the one to chain through
        else:
            shift = _agreed_shift(cells, usable, self._ref)  # a still camera: cell for cell, no drift
            if shift is None:  # a moving one: the reference view, found again in this one
                shift = _agreed_shift(cells, usable, _aligned(self._ref, cells), OUTLIER_LOG)
            if shift is not None:
                gain = self._ref[2] * np.exp(shift)
            else:
                same = self._prev[0] is self._ref[0]  # the reference is the previous frame: tried already
                shift = None if same else _agreed_shift(cells, usable, _aligned(self._prev, cells), OUTLIER_LOG)
                if shift is None:  # not even the previous frame agrees: a cut; keep the exposure
                    self.stats["held"] += 1
                    gain = self._prev[2]
                else:
                    gain = self._prev[2] * np.exp(shift)
                self.stats["reanchors"] += 1
                gain = np.clip(gain, 1.0 / LIMIT, LIMIT)
                self._ref = (cells, usable, gain)
        gain = np.clip(gain, 1.0 / LIMIT, LIMIT)
        self._prev = (cells, usable, gain)
        return self._report(gain)

    def _report(self, gain: np.ndarray) -> np.ndarray | None:
        if not changes_pixels(gain):
            return None
        self.stats["compensated"] += 1
        self.stats["gain_min"] = round(min(self.stats["gain_min"], float(gain.min())), 4)
        self.stats["gain_max"] = round(max(self.stats["gain_max"], float(gain.max())), 4)
        return gain


def changes_pixels(gain: np.ndarray) -> bool:
    """Whether dividing by `gain` moves any 8-bit value by half a step or more."""
    return bool(np.any(255.0 * np.abs(1.0 / np.asarray(gain, np.float64) - 1.0) >= 0.5))


def compensate(image: np.ndarray, gain: np.ndarray | None) -> np.ndarray:
    """`image` (HxWx3 uint8) divided by `gain` per channel, rounded and clipped; itself when None."""
    if gain is None or image.size == 0:
        return image
    import cv2

    levels = np.arange(256, dtype=np.float64)[:, None] / np.asarray(gain, np.float64)[None, :]
    table = np.clip(np.rint(levels), 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(np.ascontiguousarray(image), table)


def compensate_all(images: Sequence[np.ndarray], gains: Sequence[np.ndarray | None] | None) -> list[np.ndarray]:
    return list(images) if gains is None else [compensate(image, gain) for image, gain in zip(images, gains)]


def _cells(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A GRID_WIDTH-wide copy of `image` (3, rows, cols) float32, channels first so that the
    per-channel statistics run over contiguous rows, and which cells are background and unclipped."""
    import cv2

    height, width = image.shape[:2]
    cols = min(GRID_WIDTH, width)
    rows = max(1, int(round(height * cols / width)))
    step = max(1, height // (rows * ROWS_PER_CELL))  # a row view: cv2 reads only these rows (0.47 -> 0.14 ms at 768x576)
    small = cv2.resize(image[::step], (cols, rows), interpolation=cv2.INTER_AREA)
    usable = ((small > DARK) & (small < BRIGHT)).all(axis=2)
    sx, sy = cols / width, rows / height
    for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4):
        if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
            continue
        usable[max(0, int(y1 * sy)) : max(0, math.ceil(y2 * sy)), max(0, int(x1 * sx)) : max(0, math.ceil(x2 * sx))] = False
    return np.maximum(small, 1).transpose(2, 0, 1).astype(np.float32), usable


def _aligned(previous, cells: np.ndarray):
    """`previous` (cells, usable, gain) moved onto `cells` by the view's shift between them, or
    None when no shift explains the change (a cut).

    The middle of the previous view is found in this one by normalised correlation, which ignores
    the exposure, to a fraction of a cell (a parabola through the peak), so a panning camera's
    consecutive frames still compare cell by cell. Cells are moved as linear values: a cell astride
    an edge is an average of pixels, and interpolating logs would read it darker than it is (by
    Jensen's inequality: +0.3% a chained frame on PETS filmed panning, +20% over 400 frames).
    """
    import cv2

    if previous is None or previous[0].shape != cells.shape:
        return None
    rows, cols = cells.shape[1:]
    my, mx = max(1, rows // SEARCH), max(1, cols // SEARCH)
    before, now = previous[0].mean(axis=0), cells.mean(axis=0)
    scores = cv2.matchTemplate(now, before[my : rows - my, mx : cols - mx], cv2.TM_CCOEFF_NORMED)
    _, best, _, (px, py) = cv2.minMaxLoc(scores)
    if not best >= ALIGNED:
        return None
    dx = px - mx + _vertex(scores[py, max(px - 1, 0) : px + 2], px)
    dy = py - my + _vertex(scores[max(py - 1, 0) : py + 2, px], py)
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = np.stack([cv2.warpAffine(channel, move, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                      for channel in previous[0]])
    inside = cv2.warpAffine(previous[1].astype(np.float32), move, (cols, rows), flags=cv2.INTER_LINEAR, borderValue=0.0)
    return moved, inside > 0.999, previous[2]


def _vertex(three: np.ndarray, at: int) -> float:
    """Sub-cell offset of a peak from its two neighbours (0 at the border of the search)."""
    if at == 0 or len(three) < 3:
        return 0.0
    left, mid, right = (float(v) for v in three)
    curve = left - 2.0 * mid + right
    return 0.0 if curve >= 0 else float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5))


def _agreed_shift(cells: np.ndarray, usable: np.ndarray, against, tolerance: float = AGREE_LOG) -> np.ndarray | None:
    """The per-channel log gain from `against` to `cells`, or None when fewer than AGREE_SHARE of
    the cells are within `tolerance` of one."""
    if against is None:
        return None
    other, other_usable, _ = against
    if other.shape != cells.shape:
        return None
    both = usable & other_usable
    if int(both.sum()) < MIN_CELLS:
        return None
    ratios = np.log(cells[:, both]) - np.log(other[:, both])
    shift = np.median(ratios, axis=1)
    off = np.abs(ratios - shift[:, None])
    off = np.maximum(np.maximum(off[0], off[1]), off[2])  # the worst channel
    agreeing = off < tolerance
    if agreeing.mean() < AGREE_SHARE:
        return None
    # the mean, not the median: a pan's sub-cell interpolation skews the ratios, and a median of
    # skewed ratios chained frame after frame drifts (0.2% a frame on fine texture); cells far
    # from the gain (an undetected passer-by) are left out
    inliers = off < OUTLIER_LOG
    return (ratios * inliers).sum(axis=1, dtype=np.float64) / inliers.sum()
