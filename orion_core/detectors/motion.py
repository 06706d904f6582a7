"""Moving blobs from a static camera: background subtraction, no weights, no GPU.

OpenCV's MOG2/KNN model each pixel's background over time; what differs is foreground.
Opening removes speckle noise, closing joins a body split by a thin occluder, and each
connected component of at least `min_area` pixels becomes a box. The score is the blob's
fill ratio (foreground pixels / box area): solid objects score high, ragged noise low.
"""

from __future__ import annotations

import numpy as np

from ..config import DetectionConfig
from ..errors import ConfigError, quote
from ..types import Detections, Frame
from .base import Detector, clip_boxes

METHODS = ("mog2", "knn")
SHADOW_VALUE = 127  # what both subtractors write for a shadow pixel; we treat shadows as background
# A static camera never sees most of the frame move: that is a model still learning (KNN marks
# everything foreground for its first frames) or a global light change, not objects.
MAX_FOREGROUND = 0.8


class MotionDetector(Detector):
    """Stateful: it learns the background from the frames it sees, so feed frames in order.

    The first frames (until the model has seen the scene) give few or no boxes, and so does a
    frame where most pixels changed at once.
    """

    name = "motion"

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        import cv2

        method = config.motion_method
        if method not in METHODS:
            raise ConfigError(f"detection.motion_method: unknown method {quote(method)}; choose one of {', '.join(METHODS)}")
        if isinstance(config.min_area, bool) or not isinstance(config.min_area, int) or config.min_area < 1:
            raise ConfigError(f"detection.min_area must be a positive integer (pixels), got {config.min_area!r}")
        self._cv2 = cv2
        self.method = method
        if method == "mog2":
            self._subtractor = cv2.createBackgroundSubtractorMOG2(history=500, varThreshold=16, detectShadows=True)
        else:
            self._subtractor = cv2.createBackgroundSubtractorKNN(history=500, dist2Threshold=400.0, detectShadows=True)
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """Binary uint8 mask (0/255) of moving pixels; updates the background model."""
        cv2 = self._cv2
        mask = self._subtractor.apply(image)
        mask = np.where(mask > SHADOW_VALUE, 255, 0).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)

    def detect(self, frame: Frame) -> Detections:
        cv2 = self._cv2
        mask = self.foreground(frame.image)  # channel order is irrelevant to the subtractor
        if np.count_nonzero(mask) > MAX_FOREGROUND * mask.size:
            return Detections.empty()
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        stats = stats[1:]  # component 0 is the background
        stats = stats[stats[:, cv2.CC_STAT_AREA] >= self.config.min_area]
        x, y = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        boxes = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)
        scores = stats[:, cv2.CC_STAT_AREA] / np.maximum(w * h, 1)
        return clip_boxes(boxes, scores, self.config.label, frame.width, frame.height)

    def info(self) -> dict:
        return {"detector": self.name, "method": self.method, "min_area": self.config.min_area}
