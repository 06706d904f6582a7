"""What every detector shares: the call shape and box hygiene."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..config import DetectionConfig
from ..types import Detections, Frame


class Detector:
    """Finds boxes in frames. Subclasses implement `detect`; batching is optional.

    Detectors may keep state across frames (`motion` learns a background), so frames are
    passed in decoding order.
    """

    name = "base"

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config

    def detect(self, frame: Frame) -> Detections:
        raise NotImplementedError

    def detect_batch(self, frames: list[Frame]) -> list[Detections]:
        """Several frames at once; the default just loops, detectors with a batched model override it."""
        return [self.detect(frame) for frame in frames]

    def info(self) -> dict:
        """What run.json records about the detector."""
        return {"detector": self.name}

    def coverage_warnings(self, frames_decoded: int) -> list[str]:
        """After a whole video: anything suggesting the detector did not fit it (e.g. the wrong det.txt)."""
        return []


def clip_boxes(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str] | str,
    width: int,
    height: int,
) -> Detections:
    """Clip xyxy boxes to the frame; drop (and count) non-finite or thinner-than-a-pixel ones.

    Downstream crops and Kalman updates assume a box has area inside the image, so this is the
    one place that promise is made.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if isinstance(labels, str):
        labels = [labels] * len(boxes)
    labels = list(labels)
    if not (len(boxes) == len(scores) == len(labels)):
        raise ValueError(f"clip_boxes: {len(boxes)} boxes, {len(scores)} scores, {len(labels)} labels")
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
    clipped = boxes.copy()
    clipped[:, [0, 2]] = np.clip(np.nan_to_num(clipped[:, [0, 2]]), 0, width)
    clipped[:, [1, 3]] = np.clip(np.nan_to_num(clipped[:, [1, 3]]), 0, height)
    keep = finite & (clipped[:, 2] - clipped[:, 0] >= 1) & (clipped[:, 3] - clipped[:, 1] >= 1)
    kept_labels = [label for label, k in zip(labels, keep) if k]
    return Detections(clipped[keep], scores[keep], kept_labels, dropped=int(len(boxes) - keep.sum()))
