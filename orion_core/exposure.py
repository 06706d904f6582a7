"""The camera's exposure, read from the video's own background and taken out before embedding.

Auto-exposure, white balance and passing clouds scale every pixel of a frame by the same gains
(a power-law tone curve keeps a gain a gain), so the same coat reads brighter in one frame than
in another and colour and learned features drift with it (PETS with brightness swinging +-30%:
mobilenetv2 HOTA -6.8). The background that the detections do not cover shows the gain: the
ratio, per channel, of a small copy of this frame to one of a reference frame, over the cells
that agree on one ratio. Crops are then divided by it, so every crop looks as if filmed with
the first frame's exposure (a difference between the channels, white balance, is divided out
less a small floor that the estimate's own error stays under: `neutral_tint`). The crop itself
is never normalised: a dark coat must stay darker than a light shirt. A steady camera's gains
round to 1 and its crops are left untouched.

A still camera keeps its first frame as reference for the whole video, so nothing drifts. For a
moving one the reference is moved by the camera motion estimated for the tracker
(`tracking.cmc`), so it is compared for as long as it stays in view; once it has left (or the
light changed unevenly), the estimate is chained through the previous frame, which becomes the
reference. A cut keeps the last gain.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .config import EXPOSURE_MODES as MODES

GRID_WIDTH = 32  # columns of the small copy: 24 px cells at 768 wide (64: 0.75 -> 0.4 ms a frame, the same accuracy on PETS)
ROWS_PER_CELL = 3  # image rows averaged into a cell's height (of its 24 at 768x576): the background is smooth
AGREE_LOG = 0.05  # a cell agrees with the frame's gain when its ratio is within ~5% of it, in every channel
# ... or ~15% once moved with the camera: a cell re-sampled from moved cells is not the average of the same
# pixels (PETS filmed by a panning camera: 46% of cells within 5%, 84% within 15%); further off is something
# else than the background (an undetected passer-by) and is left out of the gain
OUTLIER_LOG = 0.15
AGREE_SHARE = 0.5  # fewer agreeing cells than this: the reference no longer shows this view
MIN_CELLS = 32  # fewer usable cells (a crowd covers the view): keep the last gain
DARK, BRIGHT = 8.0, 247.0  # clipped pixels carry no gain
LIMIT = 4.0  # gains outside [1/4, 4] are a cut or a black frame, not an exposure
# A channel's departure from the common gain (a tint: white balance) is applied less this much, in log:
# videos with no tint at all read tints of up to 1.0% (PETS and its re-shot copies, still and panning,
# brightness swinging up to +-30%), which is the estimate's error and the scene's own drift, while a
# change of light or white balance (daylight to shade, a lamp) moves a channel by 10% and more
TINT_FLOOR = 0.02


class ExposureGain:
    """Per-frame RGB gains of a video against its first frame, from the background."""

    def __init__(self, mode: str = "on") -> None:
        if mode not in MODES:
            raise ValueError(f"exposure mode {mode!r}; use one of {', '.join(MODES)}")
        self.enabled = mode == "on"
        self._ref: _View | None = None
        self._prev: _View | None = None
        self._ref_to_now: np.ndarray | None = None  # the camera's motion since the reference frame (None: none), pixels
        self.stats = {"mode": mode, "frames": 0, "compensated": 0, "reanchors": 0, "held": 0,
                      "gain_min": 1.0, "gain_max": 1.0}

    def update(self, image: np.ndarray, boxes: np.ndarray, warp: np.ndarray | None = None,
               view_lost: bool = False) -> np.ndarray | None:
        """The gains (3,) by which this frame's crops are divided, or None when they change no pixel.

        `warp` is the camera's motion from the previous frame (2x3, `tracking.cmc`; None: still) and
        `view_lost` says it could not be followed (a cut): the background is compared where it is now.
        """
        if not self.enabled:
            return None
        self.stats["frames"] += 1
        view = _View(*_cells(image, boxes), gain=None)
        scale = (view.cells.shape[2] / image.shape[1], view.cells.shape[1] / image.shape[0])
        if warp is not None:
            self._ref_to_now = _as3x3(warp) if self._ref_to_now is None else _as3x3(warp) @ self._ref_to_now
        if self._ref is None:
            return self._anchor(view, np.ones(3))
        if int(view.usable.sum()) < MIN_CELLS:  # a crowd or a clipped frame hides the background: keep the last gain
            self.stats["held"] += 1
            return self._report(self._prev.gain)  # the previous frame stays the one to chain through
        if view_lost:  # a cut: nothing to compare with; the exposure is kept
            self.stats["held"] += 1
            return self._anchor(view, self._prev.gain, count=True)
        shift = _agreed_shift(view, self._ref.seen_through(self._ref_to_now, scale))
        if shift is not None:
            view.gain = np.clip(self._ref.gain * np.exp(shift), 1.0 / LIMIT, LIMIT)
            self._prev = view
            return self._report(view.gain)
        # the reference has left the view (or the light changed unevenly): chain through the
        # previous frame, moved by this frame's camera motion, and start again from here
        shift = None if self._prev is self._ref else _agreed_shift(
            view, self._prev.seen_through(None if warp is None else _as3x3(warp), scale))
        if shift is None:
            self.stats["held"] += 1
            return self._anchor(view, self._prev.gain, count=True)
        return self._anchor(view, np.clip(self._prev.gain * np.exp(shift), 1.0 / LIMIT, LIMIT), count=True)

    def _anchor(self, view: "_View", gain: np.ndarray, count: bool = False) -> np.ndarray | None:
        """`view` (with `gain`) becomes the reference: the one later frames are compared with."""
        self.stats["reanchors"] += int(count)
        view.gain = gain
        self._ref = self._prev = view
        self._ref_to_now = None
        return self._report(gain)

    def _report(self, gain: np.ndarray) -> np.ndarray | None:
        gain = neutral_tint(gain)
        if not changes_pixels(gain):
            return None
        self.stats["compensated"] += 1
        self.stats["gain_min"] = round(min(self.stats["gain_min"], float(gain.min())), 4)
        self.stats["gain_max"] = round(max(self.stats["gain_max"], float(gain.max())), 4)
        return gain


class _View:
    """One frame's cells (linear values and their logs), which of them are background, and its gain."""

    def __init__(self, cells: np.ndarray, usable: np.ndarray, gain: np.ndarray | None) -> None:
        self.cells, self.usable, self.gain = cells, usable, gain
        self.logs = np.log(cells)

    def seen_through(self, motion: np.ndarray | None, scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, float]:
        """(log cells, usable, tolerance) of this view where the camera now shows it.

        `motion` (3x3, full-resolution pixels) is the camera's motion since this view; without
        one (None) the cells compare one for one. Moved cells are interpolated as linear values: a cell
        astride an edge is an average of pixels, and interpolating logs would read it darker than
        it is (Jensen's inequality: +0.3% a chained frame on PETS filmed panning).
        """
        import cv2

        if motion is None:
            return self.logs, self.usable, AGREE_LOG
        rows, cols = self.cells.shape[1:]
        sx, sy = scale
        to_grid = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])  # pixel -> cell centres
        move = (to_grid @ motion @ np.linalg.inv(to_grid))[:2].astype(np.float32)
        moved = np.stack([cv2.warpAffine(channel, move, (cols, rows), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                          for channel in self.cells])
        inside = cv2.warpAffine(self.usable.astype(np.float32), move, (cols, rows), flags=cv2.INTER_LINEAR, borderValue=0.0)
        return np.log(moved), inside > 0.999, OUTLIER_LOG


def _as3x3(warp: np.ndarray) -> np.ndarray:
    return np.vstack([np.asarray(warp, np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])


def neutral_tint(gain: np.ndarray) -> np.ndarray:
    """`gain` with each channel's departure from the common gain shrunk by TINT_FLOOR (none under it).

    A tint turns the hue of every near-grey pixel, and a hue histogram is a step function of hue: a
    per-channel estimate that wobbles by half a percent re-bins the greys of every crop from frame to
    frame (PETS with its brightness alone wobbling by +-0.4% or +-1%, ten runs: the histogram's
    identities changed in 5 with the raw per-channel gains, in none with this). Shrinking rather
    than cutting keeps the correction continuous: a real white-balance change is applied, less the
    floor.
    """
    logs = np.log(np.asarray(gain, np.float64))
    common = logs.mean()
    tint = logs - common
    return np.exp(common + np.sign(tint) * np.maximum(np.abs(tint) - TINT_FLOOR, 0.0))


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


def _agreed_shift(view: _View, against: tuple[np.ndarray, np.ndarray, float]) -> np.ndarray | None:
    """The per-channel log gain to `view` from `against` (log cells, usable, tolerance), or None
    when fewer than AGREE_SHARE of the cells are within the tolerance of one."""
    other, other_usable, tolerance = against
    logs, usable = view.logs, view.usable
    if other.shape != logs.shape:
        return None
    both = usable & other_usable
    if int(both.sum()) < MIN_CELLS:
        return None
    ratios = logs[:, both] - other[:, both]
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
