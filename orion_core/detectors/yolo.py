"""Ultralytics YOLO: the default detector, with the model's own class names as labels.

Weights are never fetched behind the user's back when offline (YOLO_OFFLINE=1 or no
network): a missing file is one error that says where to put it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import DetectionConfig
from ..errors import ConfigError, WeightsError, quote
from ..types import Detections, Frame
from .base import Detector, clip_boxes

BOX_TASKS = ("detect", "segment", "pose")  # models whose results carry axis-aligned boxes


def resolve_weights(model: str) -> str:
    """A local path for `model`, or the bare name when ultralytics may download it."""
    path = Path(model).expanduser()
    if path.is_file():
        return str(path)
    if path.is_dir():
        raise WeightsError(f"YOLO model {path} is a directory; pass the .pt file inside it (--detector-model FILE.pt)")
    if path.suffix in (".yaml", ".yml"):
        return model  # an architecture shipped with ultralytics: random weights, no download
    from ultralytics.utils import SETTINGS, is_online

    cached = Path(SETTINGS["weights_dir"]).absolute() / path.name
    if cached.is_file():
        return str(cached)
    if len(path.parts) > 1:
        raise WeightsError(f"YOLO weights file {path} does not exist; check --detector-model / detection.model")
    if not is_online():
        raise WeightsError(
            f"YOLO weights {quote(model)} are not on this machine and downloads are off (offline or YOLO_OFFLINE=1); "
            f"download {path.name} elsewhere and put it at {Path.cwd() / path.name} or {cached}, "
            "or pass --detector-model /path/to/weights.pt"
        )
    return model


def load_yolo(model: str) -> Any:
    """`ultralytics.YOLO(model)` with every failure turned into one WeightsError line."""
    weights = resolve_weights(model)
    from ultralytics import YOLO

    try:
        yolo = YOLO(weights)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise WeightsError(
            f"could not load YOLO weights {quote(weights)} ({detail}); the file may be truncated or not an "
            "ultralytics checkpoint: re-download it or pass another --detector-model"
        ) from None
    if yolo.task not in BOX_TASKS:
        raise WeightsError(
            f"YOLO model {quote(weights)} is a {yolo.task!r} model; Orion needs one that outputs boxes "
            f"({', '.join(BOX_TASKS)}), e.g. yolo11n.pt"
        )
    return yolo


def class_ids(names: dict[int, str], wanted: list[str] | None) -> list[int] | None:
    """Map class names to the model's ids (None = all); unknown names are a ConfigError listing valid ones."""
    if wanted is None:
        return None
    by_name = {name: index for index, name in names.items()}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ConfigError(
            f"detection.classes: unknown class name(s) {', '.join(map(repr, unknown))} for this model; "
            f"valid names: {', '.join(names.values())}"
        )
    return sorted({by_name[name] for name in wanted})


def predict_device(device: str) -> str | None:
    """`auto` leaves the choice to ultralytics; an explicit device must exist."""
    if device == "auto":
        return None
    from ..device import resolve_device

    return resolve_device(device)


class YoloDetector(Detector):
    """Runs a YOLO model on RGB frames (flipped to the BGR ultralytics expects of arrays)."""

    name = "yolo"

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        if isinstance(config.confidence, bool) or not 0.0 <= config.confidence <= 1.0:
            raise ConfigError(f"detection.confidence must be between 0 and 1, got {config.confidence!r}")
        self.imgsz = int(config.imgsz)
        self.batch_size = int(config.batch_size)
        if self.imgsz < 32 or self.batch_size < 1:
            raise ConfigError(
                f"detection.imgsz must be >= 32 and detection.batch_size >= 1, got {self.imgsz} and {self.batch_size}"
            )
        self.device = predict_device(config.device)
        self.model = load_yolo(config.model)
        self.names: dict[int, str] = {int(k): str(v) for k, v in self.model.names.items()}
        self.class_ids = class_ids(self.names, config.classes)

    def detect(self, frame: Frame) -> Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: list[Frame]) -> list[Detections]:
        out: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            results = self.model.predict(
                [np.ascontiguousarray(frame.image[..., ::-1]) for frame in chunk],
                conf=self.config.confidence,
                classes=self.class_ids,
                imgsz=self.imgsz,
                device=self.device,
                verbose=False,
            )
            out.extend(self._to_detections(result, frame) for result, frame in zip(results, chunk))
        return out

    def _to_detections(self, result: Any, frame: Frame) -> Detections:
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        xyxy = boxes.xyxy.cpu().numpy()
        scores = boxes.conf.cpu().numpy()
        labels = [self.names.get(int(c), str(int(c))) for c in boxes.cls.cpu().numpy()]
        return clip_boxes(xyxy, scores, labels, frame.width, frame.height)

    def info(self) -> dict:
        return {
            "detector": self.name,
            "model": str(self.config.model),
            "task": self.model.task,
            "classes": self.config.classes,
            "confidence": self.config.confidence,
            "imgsz": self.imgsz,
        }
