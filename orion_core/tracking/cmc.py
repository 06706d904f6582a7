"""Camera motion compensation: the global affine between consecutive frames (BoT-SORT's GMC).

A panning or zooming camera moves every box the same way; the Kalman filter, which assumes a
still camera, then predicts each box where it was and IoU association fails. The tracker moves
its states through this frame-to-frame affine before associating (`Tracker.update(warp=...)`).

Estimation: corners (`cv2.goodFeaturesToTrack`) on the previous grey frame, downscaled to
`WIDTH` pixels wide, followed by pyramidal Lucas-Kanade (`cv2.calcOpticalFlowPyrLK`) and a
RANSAC 4-DoF similarity (`cv2.estimateAffinePartial2D`: rotation, uniform scale, shift), which
moving objects, a minority of the corners, do not drag along. Finding corners was half the cost
(~1.4 of ~3.3 ms a PETS09 frame), so the inliers of one estimate are followed on into the next
(`KEEP_CORNERS`, as a KLT tracker does), less those an object now covers, and new corners are found
only when fewer than `REFRESH_CORNERS` are left: ~1.5 ms a frame on a panning camera, as accurate
(`benchmarks/pets_pan.py --check-estimate`: 0.04-0.06 px off the true motion either way).

Corners are searched outside the previous frame's detection boxes (`update(image, boxes)`), as
BoT-SORT's GMC masks its detections: objects are not the scene. Without the mask, a static camera
was "compensated" on 3-7% of the frames of the TUD-Stadtmitte replays (benchmarks/trajectories.py):
near pedestrians covering much of the frame, richer in corners than the ground, made RANSAC's
majority the crowd's motion. Fewer than `MIN_POINTS` corners left outside the boxes: no estimate.

`mode`: `on` always applies the estimate; `off` never estimates; `auto` applies it only when the
camera visibly moves (`MIN_SHIFT_PX` full-resolution pixels or `MIN_SCALE` relative zoom): on a
still camera the estimate is noise, and identity is exact.

`auto` on a still camera: once no frame has moved for `STILL_S` seconds, the full estimate stops.
Each frame then only follows `SENTINELS` background corners of a reference frame into the new one
(Lucas-Kanade on those few points, ~0.2 ms against ~2 ms for the estimate). When their median
displacement passes `MIN_SHIFT_PX` (those a detection now covers do not vote: a person walking
over them is not the camera), or they cannot be followed, the full estimate runs on that
same frame, and is applied if significant: a camera that starts moving is compensated from its
first moving frame. The reference and its corners are renewed after every full estimate, when
objects have covered a quarter of them (`KEEP_FOLLOWED`), and every `RENEW_S` seconds (light
changes). Most fixed cameras never move, and estimating every frame took 2.2 of 5.6 s of a PETS09
histogram run; the sentinels cost ~0.2 ms a frame.

Before the sentinels, a still camera was estimated once every 0.5 s only (a probe), and a pan that
started was compensated up to 0.5 s late. On PETS09 filmed by a virtual camera that stands
still for 100 frames and then pans (`benchmarks/pets_pan.py --still 100`) those few late frames
cost the histogram 2.9 HOTA and 7.0 IDF1 against estimating every frame.
"""

from __future__ import annotations

import numpy as np

WIDTH = 320  # estimation width in pixels
MAX_CORNERS = 200
MIN_POINTS = 10  # tracked corners needed for an estimate; fewer: no compensation this frame
KEEP_CORNERS = True  # follow the last estimate's inlier corners on (finding corners is half an estimate's cost) ...
REFRESH_CORNERS = 100  # ... until fewer than this are left, then find new ones
MIN_SHIFT_PX = 1.0  # auto: apply when the shift (full-resolution pixels) exceeds this ...
MIN_SCALE = 0.005  # ... or the zoom exceeds 0.5 %
STILL_S = 2.0  # auto: still this long -> follow sentinels instead of estimating every frame
RENEW_S = 2.0  # auto, still camera: seconds between renewals of the sentinels' reference frame (light changes)
SENTINELS = 32  # corners followed on a still camera
KEEP_FOLLOWED = 0.75  # fewer of them followed (objects walked over them): new sentinels from the next frame


class CameraMotion:
    """Frame-to-frame camera motion; `update(image)` returns the 2x3 warp to apply, or None."""

    def __init__(self, mode: str = "auto", fps: float = 0.0) -> None:
        self.mode = mode
        self._prev: np.ndarray | None = None
        self._prev_mask: np.ndarray | None = None  # where corners may be taken in `_prev` (None: anywhere)
        self._scale = 1.0
        rate = fps if fps and fps > 0 else 25.0
        self._still_after = max(1, round(STILL_S * rate))  # frames
        self._renew_every = max(1, round(RENEW_S * rate))  # frames
        self._still = 0  # frames in a row without visible motion
        self._since_renewal = 0
        self._reference: tuple[np.ndarray, np.ndarray] | None = None  # (grey frame, its sentinel corners)
        self._corners: np.ndarray | None = None  # the last estimate's inlier corners, in `_prev`
        self.counts = {"frames": 0, "estimated": 0, "applied": 0, "failed": 0, "sentinel_renewals": 0, "view_lost": 0}
        self.view_lost = False  # the last update could not follow the scene (a cut?): see `_estimate`

    def update(self, image: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray | None:
        """`image`: RGB (or grey) frame; `boxes`: its detections (N x 4 xyxy pixels), kept out of the
        next estimate's corners. None = nothing to compensate (first frame, off, still camera)."""
        if self.mode == "off":
            return None
        import cv2

        self.counts["frames"] += 1
        self.view_lost = False
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, WIDTH / grey.shape[1])
        if scale < 1.0:
            grey = cv2.resize(grey, (int(round(grey.shape[1] * scale)), int(round(grey.shape[0] * scale))), interpolation=cv2.INTER_LINEAR)  # 3x cheaper than INTER_AREA; corners do not mind
        prev, prev_mask = self._prev, self._prev_mask
        self._prev, self._scale, self._prev_mask = grey, scale, background_mask(grey.shape, boxes, scale)
        if prev is None or prev.shape != grey.shape:
            self._reference = self._corners = None
            return None
        still = self.mode == "auto" and self._still >= self._still_after
        if still and not self._sentinels_moved(prev, prev_mask, grey, self._prev_mask, scale):
            self._still += 1
            self._corners = None  # they were in an older frame
            return None
        self._reference = None  # renewed after every full estimate
        carried = self._corners if KEEP_CORNERS else None
        warp, self.view_lost, self._corners = _estimate(prev, grey, prev_mask, carried)
        if self.view_lost:
            self.counts["view_lost"] += 1
        if warp is None:
            self.counts["failed"] += 1
            self._still = 0  # no evidence that the camera is still
            return None
        self.counts["estimated"] += 1
        warp[:, 2] /= scale  # the shift back to full-resolution pixels (the linear part is scale-free)
        if self.mode == "auto" and not is_significant(warp):
            self._still += 1
            return None
        self._still = 0
        self.counts["applied"] += 1
        return warp

    def _sentinels_moved(self, prev: np.ndarray, prev_mask: np.ndarray | None, grey: np.ndarray, mask: np.ndarray | None,
                         scale: float) -> bool:
        """Still camera: have the reference frame's sentinel corners moved in `grey` (or been lost)?
        Sentinels an object now covers (inside `mask`'s boxes) say nothing about the camera: they are
        left out, and renewed when too few remain (a crowd walking over them is not a camera moving)."""
        import cv2

        self._since_renewal += 1
        if self._reference is None or self._since_renewal >= self._renew_every:
            points = cv2.goodFeaturesToTrack(prev, maxCorners=SENTINELS, qualityLevel=0.01, minDistance=8, blockSize=3,
                                             mask=prev_mask)
            self._since_renewal = 0
            self.counts["sentinel_renewals"] += 1
            if points is None or len(points) < MIN_POINTS:
                self._reference = None
                return True  # too little to follow: let the full estimate decide
            self._reference = (prev, points)
        reference, points = self._reference
        moved, status, _ = cv2.calcOpticalFlowPyrLK(reference, grey, points, None, winSize=(9, 9), maxLevel=2)
        ok = status.reshape(-1) == 1
        if ok.sum() < max(MIN_POINTS, len(points) // 2):
            return True  # most cannot be followed: a jump, a cut, or a fast start
        if mask is not None:
            xy = np.clip(moved.reshape(-1, 2).round().astype(int), 0, [mask.shape[1] - 1, mask.shape[0] - 1])
            ok &= mask[xy[:, 1], xy[:, 0]] > 0
        if ok.sum() < KEEP_FOLLOWED * len(points):
            self._reference = None
        if ok.sum() < MIN_POINTS:
            return False  # too few in view of the scene to tell: new sentinels from the next frame
        shift = np.median(np.hypot(*(moved[ok] - points[ok]).reshape(-1, 2).T)) / scale
        return bool(shift > MIN_SHIFT_PX)

    @property
    def stats(self) -> dict:
        return {"mode": self.mode, **self.counts}


def background_mask(shape: tuple[int, ...], boxes: np.ndarray | None, scale: float) -> np.ndarray | None:
    """uint8 mask of `shape` (the estimation image), 0 inside `boxes` (full-resolution xyxy, scaled
    by `scale`), 255 elsewhere; None when there are no boxes (corners may come from anywhere)."""
    if boxes is None or len(boxes) == 0:
        return None
    height, width = shape[:2]
    mask = np.full((height, width), 255, np.uint8)
    scaled = np.asarray(boxes, np.float64).reshape(-1, 4) * scale
    x0 = np.clip(np.floor(scaled[:, 0]), 0, width).astype(int)
    y0 = np.clip(np.floor(scaled[:, 1]), 0, height).astype(int)
    x1 = np.clip(np.ceil(scaled[:, 2]), 0, width).astype(int)
    y1 = np.clip(np.ceil(scaled[:, 3]), 0, height).astype(int)
    for a, b, c, d in zip(x0, y0, x1, y1):
        mask[b:d, a:c] = 0
    return mask


def estimate_affine(prev: np.ndarray, curr: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | None:
    """2x3 similarity mapping `prev` pixel coordinates to `curr` ones (grey uint8), or None.
    `mask` (uint8, `prev`'s shape): corners only where it is non-zero (the background)."""
    return _estimate(prev, curr, mask)[0]


def _estimate(prev: np.ndarray, curr: np.ndarray, mask: np.ndarray | None,
              points: np.ndarray | None = None) -> tuple[np.ndarray | None, bool, np.ndarray | None]:
    """(warp or None, view lost, the inlier corners where they are in `curr`): lost when `prev` had
    corners but they cannot be followed into `curr` by one motion (a cut, a jump): positions before
    and after are not comparable. `points`: corners of `prev` to follow (the last estimate's inliers,
    `KEEP_CORNERS`); those on the mask's objects are dropped, and fewer than `REFRESH_CORNERS` left
    means new ones are found."""
    import cv2

    if points is not None and mask is not None and len(points):
        xy = np.clip(points.reshape(-1, 2).round().astype(int), 0, [mask.shape[1] - 1, mask.shape[0] - 1])
        points = points[mask[xy[:, 1], xy[:, 0]] > 0]  # an object walked over it since: not the scene
    if points is None or len(points) < REFRESH_CORNERS:
        points = cv2.goodFeaturesToTrack(prev, maxCorners=MAX_CORNERS, qualityLevel=0.01, minDistance=8, blockSize=3,
                                         mask=mask)
    if points is None or len(points) < MIN_POINTS:
        return None, False, None  # nothing to go by (a blank wall, a crowd covering the ground)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(prev, curr, points, None, winSize=(15, 15), maxLevel=2)  # 4x15 px at 320 wide: pans up to ~60 px/frame
    ok = status.reshape(-1) == 1
    if ok.sum() < MIN_POINTS:
        return None, True, None
    warp, inliers = cv2.estimateAffinePartial2D(points[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if warp is None or inliers is None or inliers.sum() < MIN_POINTS:
        return None, True, None
    kept = moved[ok][inliers.reshape(-1) == 1]
    height, width = curr.shape[:2]
    inside = (kept[..., 0] >= 0) & (kept[..., 0] < width) & (kept[..., 1] >= 0) & (kept[..., 1] < height)
    return warp.astype(np.float64), False, kept[inside.reshape(-1)]


IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # "the camera did not move", as a 2x3 warp


def moved(warps: np.ndarray) -> np.ndarray:
    """Per (2, 3) warp of a stack: not the identity (the tracker applied a camera motion there)."""
    return (np.asarray(warps).reshape(-1, 2, 3) != IDENTITY).any(axis=(1, 2))


def is_significant(warp: np.ndarray) -> bool:
    scale = float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))
    return bool(np.hypot(warp[0, 2], warp[1, 2]) > MIN_SHIFT_PX or abs(scale - 1.0) > MIN_SCALE)


def warp_states(mean: np.ndarray, cov: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move Kalman states by a 2x3 camera affine (previous frame -> current), as BoT-SORT's GMC.

    Position goes through the full affine; velocity through its linear part; width and height
    scale by its scale factor (a similarity: rotation is not applied to box sides).
    """
    if len(mean) == 0:
        return mean, cov
    linear, shift = warp[:, :2], warp[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    mean = mean.copy()
    mean[:, 0:2] = mean[:, 0:2] @ linear.T + shift
    mean[:, 4:6] = mean[:, 4:6] @ linear.T
    mean[:, 2:4] *= scale
    mean[:, 6:8] *= scale
    big = np.zeros((8, 8))
    big[0:2, 0:2] = big[4:6, 4:6] = linear
    big[2, 2] = big[3, 3] = big[6, 6] = big[7, 7] = scale
    return mean, big @ cov @ big.T


def warp_boxes(boxes: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """xyxy boxes through a 2x3 affine: centres move, sides scale."""
    if len(boxes) == 0:
        return boxes
    linear, shift = warp[:, :2], warp[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0 @ linear.T + shift
    half = (boxes[:, 2:] - boxes[:, :2]) / 2.0 * scale
    return np.concatenate([centres - half, centres + half], axis=1)


def invert_affines(mats: np.ndarray) -> np.ndarray:
    """(n, 2, 3) affines -> their inverses."""
    full = np.concatenate([mats, np.broadcast_to([[[0.0, 0.0, 1.0]]], (len(mats), 1, 3))], axis=1)
    return np.linalg.inv(full)[:, :2]


def boxes_through(boxes: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """xyxy boxes, row i through the similarity `mats[i]`: `warp_boxes` with one warp a row (the
    offline pass moves each row by its own frame's). NaN rows stay NaN."""
    linear, shift = mats[:, :, :2], mats[:, :, 2]
    scale = np.sqrt(np.abs(np.linalg.det(linear)))[:, None]
    centres = np.einsum("nij,nj->ni", linear, (boxes[:, :2] + boxes[:, 2:]) / 2.0) + shift
    half = (boxes[:, 2:] - boxes[:, :2]) / 2.0 * scale
    return np.concatenate([centres - half, centres + half], axis=1)
