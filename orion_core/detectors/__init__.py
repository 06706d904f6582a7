"""Detectors by name, like the embedding backends but built in.

Importing this package is cheap: ultralytics and OpenCV load when a detector is made.
"""

from __future__ import annotations

from ..config import DetectionConfig
from ..errors import ConfigError, quote
from .base import Detector, clip_boxes
from .mot import MotDetector
from .motion import MotionDetector
from .yolo import YoloDetector

DETECTORS: dict[str, type[Detector]] = {
    "yolo": YoloDetector,
    "mot": MotDetector,
    "motion": MotionDetector,
}


def make_detector(config: DetectionConfig) -> Detector:
    """The detector `config.detector` names, ready to use (weights loaded, files parsed)."""
    cls = DETECTORS.get(config.detector)
    if cls is None:
        raise ConfigError(
            f"detection.detector: unknown detector {quote(config.detector)}; choose one of {', '.join(DETECTORS)}"
        )
    return cls(config)


__all__ = ["DETECTORS", "Detector", "MotDetector", "MotionDetector", "YoloDetector", "clip_boxes", "make_detector"]
