"""Precomputed detections from a MOTChallenge file (`frame,id,left,top,w,h,score,...`).

Benchmarks compare trackers on the same public detections, so this "detector" only replays
them. The whole file is parsed up front: det files are small, and a bad line should fail
the run before any video is decoded, naming the file and line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..config import DetectionConfig
from ..errors import ConfigError, InputError, quote
from ..motchallenge import check_frame, read_lines
from ..types import Detections, Frame
from .base import Detector, clip_boxes

MIN_COLUMNS = 7


def read_mot_detections(path: str | Path) -> dict[int, np.ndarray]:
    """MOT frame number (1-based) -> (N, 5) float32 rows `left, top, w, h, score`, in file order."""
    path = Path(path)
    lines = read_lines(path, "detections file")
    rows: dict[int, list[tuple[float, ...]]] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        frame, values = _parse_line(path, number, line)
        rows.setdefault(frame, []).append(values)
    if not rows:
        raise InputError(
            f"detections file {path} has no detections (empty file); expected lines 'frame,id,left,top,w,h,score,...'"
        )
    return {frame: np.asarray(values, dtype=np.float32) for frame, values in rows.items()}


def _parse_line(path: Path, number: int, line: str) -> tuple[int, tuple[float, ...]]:
    where = f"detections file {path} line {number}"
    # MOTChallenge is comma separated; some tools write spaces after commas or spaces only
    columns = [c.strip() for c in line.split(",")] if "," in line else line.split()
    if len(columns) < MIN_COLUMNS:
        raise InputError(
            f"{where}: expected at least {MIN_COLUMNS} comma-separated columns "
            f"(frame,id,left,top,w,h,score,...), got {len(columns)}: {quote(line)}"
        )
    numbers = []
    for position, text in enumerate(columns[:MIN_COLUMNS], start=1):
        if not text:
            raise InputError(f"{where} column {position} is empty; fix or remove the line")
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{where} column {position}: {quote(text)} is not a number; fix or remove the line") from None
        if not math.isfinite(value):
            raise InputError(f"{where} column {position}: {quote(text)} is not a finite number; fix or remove the line")
        numbers.append(value)
    return check_frame(numbers[0], columns[0], where), tuple(numbers[2:7])


class MotDetector(Detector):
    """Replays a det.txt; MOT frame f belongs to the decoded frame with index f - 1."""

    name = "mot"

    def __init__(self, config: DetectionConfig) -> None:
        super().__init__(config)
        if not config.detections:
            raise ConfigError(
                "detector 'mot' needs a detections file: set detection.detections or pass --detections det.txt"
            )
        if config.min_score is not None and not math.isfinite(config.min_score):
            raise ConfigError(f"detection.min_score must be a finite number, got {config.min_score!r}")
        self.path = Path(config.detections)
        self.rows = read_mot_detections(self.path)
        self.num_boxes = int(sum(len(r) for r in self.rows.values()))
        self.last_frame = max(self.rows)  # MOT (1-based) number of the last frame with boxes

    def detect(self, frame: Frame) -> Detections:
        rows = self.rows.get(frame.index + 1)
        if rows is None:
            return Detections.empty()
        if self.config.min_score is not None:
            rows = rows[rows[:, 4] >= self.config.min_score]
        boxes = rows[:, :4].copy()
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        return clip_boxes(boxes, rows[:, 4], self.config.label, frame.width, frame.height)

    def info(self) -> dict:
        return {"detector": self.name, "file": str(self.path), "boxes": self.num_boxes, "last_frame": self.last_frame}

    def coverage_warnings(self, frames_decoded: int) -> list[str]:
        unused = sum(len(rows) for frame, rows in self.rows.items() if frame > frames_decoded)
        if not unused:
            return []
        return [
            f"detections file {self.path} has {unused} of {self.num_boxes} boxes on frames after the video's last "
            f"frame ({frames_decoded}; its last is {self.last_frame}): is it the det.txt of this video?"
        ]
