"""Constant-velocity Kalman filter for many boxes at once.

State per box: `(cx, cy, w, h, vx, vy, vw, vh)`, pixels and pixels per video frame. Width and
height evolve separately (as in BoT-SORT) rather than SORT's area/aspect pair, so a pedestrian
turning sideways does not drag its height along. Noise is proportional to the box size (the
ByteTrack convention): a 300 px box jitters more pixels than a 30 px one.

The process noise is a rate per second, not per frame: how erratically a walker moves does not
depend on how often the camera samples them. Its constants are per frame at `NOISE_FPS`; a video
at another rate passes `rate` = `NOISE_FPS` x seconds per frame (`noise_rate`), and a frame of it
adds the noise of `rate` such frames (position random walk x sqrt(rate), velocity x rate^1.5 in
pixels per frame of this video). A per-frame constant instead made a 25 fps video's filter believe
in 2.8x the acceleration per second of a 12.5 fps one's (benchmarks/README.md, "Kalman noise per
second"). The measurement noise is per observation and does not scale.

Every function works on a stack of tracks in one numpy call. A per-track filter costs ~25 us
per predict+update in Python, which alone would spend the 1 ms frame budget at 50 objects.
"""

from __future__ import annotations

import numpy as np

POSITION_NOISE = 1.0 / 20.0  # std of position, as a fraction of the box side
VELOCITY_NOISE = 1.0 / 160.0  # std of velocity per frame, as a fraction of the box side
MIN_SIDE = 1.0  # boxes never shrink below one pixel, whatever the velocity says
# The frame rate at which POSITION_NOISE and VELOCITY_NOISE are per frame. 10 fps: the rate
# PETS09's video declares, where every other tracking default was measured with these constants
# (they are ByteTrack's, set per frame on MOT17's 25-30 fps videos), so a 10 fps video tracks as
# before and others get the same noise per second. Measured against per frame and against 7, 12.5
# and 25 in benchmarks/README.md, "Kalman noise per second". `TrackingConfig.kalman_noise_fps`
# overrides it; 0 keeps the constants per frame at any rate.
NOISE_FPS = 10.0

_H_DIM = 4  # measured part of the state: cx, cy, w, h
_DIAG4 = np.arange(_H_DIM)
_DIAG8 = np.arange(2 * _H_DIM)
_OFF4 = np.nonzero(~np.eye(_H_DIM, dtype=bool))  # the off-diagonal entries of a 4x4 matrix


def xyxy_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] + wh / 2.0, wh], axis=1)


def state_to_xyxy(mean: np.ndarray) -> np.ndarray:
    """Boxes of the filter states, sides clamped to `MIN_SIDE`."""
    wh = np.maximum(mean[:, 2:4], MIN_SIDE)
    return np.concatenate([mean[:, :2] - wh / 2.0, mean[:, :2] + wh / 2.0], axis=1)


def side_scale(cxcywh: np.ndarray) -> np.ndarray:
    """(n, 4) sizes that scale the noise of (x, y, w, h): width for x/w, height for y/h."""
    w = np.maximum(cxcywh[:, 2], MIN_SIDE)
    h = np.maximum(cxcywh[:, 3], MIN_SIDE)
    return np.stack([w, h, w, h], axis=1)


def _diag(std: np.ndarray) -> np.ndarray:
    """(n, k) standard deviations -> (n, k, k) diagonal covariances."""
    n, k = std.shape
    out = np.zeros((n, k, k))
    out[:, np.arange(k), np.arange(k)] = std * std
    return out


def noise_rate(seconds_per_frame: float | None, noise_fps: float = NOISE_FPS) -> float:
    """`NOISE_FPS`-frames per frame of a video with this frame period (1 when either is unknown
    or `noise_fps` is 0: the constants per frame, as before they were per second)."""
    if not noise_fps or not seconds_per_frame or seconds_per_frame <= 0:
        return 1.0
    return float(noise_fps * seconds_per_frame)


def process_std(scale: np.ndarray, rate: float) -> np.ndarray:
    """(n, 8) standard deviations of one frame's process noise, for boxes of `scale` sides."""
    return np.concatenate([POSITION_NOISE * np.sqrt(rate) * scale, VELOCITY_NOISE * rate**1.5 * scale], axis=1)


def initiate(boxes: np.ndarray, rate: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """New tracks at rest on `boxes` (xyxy); velocity is unknown, hence its wide prior (in
    pixels per frame of this video, so `rate` times the per-`NOISE_FPS`-frame prior)."""
    z = xyxy_to_cxcywh(boxes)
    mean = np.concatenate([z, np.zeros_like(z)], axis=1)
    scale = side_scale(z)
    std = np.concatenate([2.0 * POSITION_NOISE * scale, 10.0 * VELOCITY_NOISE * rate * scale], axis=1)
    return mean, _diag(std)


def predict(mean: np.ndarray, cov: np.ndarray, dt: float, rate: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Advance all states by `dt` video frames (frame sampling can skip indices).

    Process noise grows linearly with `dt`, a random walk on position and velocity; `rate`
    (`noise_rate`) makes it the same per second at any frame rate.
    """
    if len(mean) == 0:
        return mean, cov
    transition = np.eye(8)
    transition[:_H_DIM, _H_DIM:] = dt * np.eye(_H_DIM)
    std = process_std(side_scale(mean), rate) * np.sqrt(dt)
    mean = mean @ transition.T
    cov = transition @ cov @ transition.T
    cov[:, _DIAG8, _DIAG8] += std * std  # + diag(std^2), without building the (n, 8, 8) matrix
    return mean, cov


def update(mean: np.ndarray, cov: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct states with measured `boxes` (xyxy), one row per state."""
    if len(mean) == 0:
        return mean, cov
    z = xyxy_to_cxcywh(boxes)
    innovation_cov = cov[:, :_H_DIM, :_H_DIM].copy()
    innovation_cov[:, _DIAG4, _DIAG4] += np.square(POSITION_NOISE * side_scale(mean))
    measured_rows = cov[:, :_H_DIM, :]  # H @ P, shape (n, 4, 8)
    # Both S and P are symmetric, so K^T = S^-1 (H P). While no camera warp has mixed the axes,
    # each coordinate is independent of the others (diagonal noise, a per-axis transition), so S
    # is diagonal and the solve is a division: what the batched 4x4 solve (~1 us a track) returns.
    if innovation_cov[:, _OFF4[0], _OFF4[1]].any():
        gain_t = np.linalg.solve(innovation_cov, measured_rows)
    else:
        gain_t = measured_rows / innovation_cov[:, _DIAG4, _DIAG4][:, :, None]
    innovation = z - mean[:, :_H_DIM]
    mean = mean + np.einsum("nij,ni->nj", gain_t, innovation)
    cov = cov - gain_t.transpose(0, 2, 1) @ measured_rows
    return mean, cov
