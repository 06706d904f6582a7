"""The plain data handed from one pipeline stage to the next.

video -> Frame -> detect -> Detections -> embed -> (N, D) rows -> track -> TrackedObject
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    """One decoded frame. `image` is RGB uint8 (HxWx3): the core converts from BGR once; only
    `VideoSource.frames("yuv420p")` (annotated.mp4's pass) hands out I420 planes ((H*3/2)xW) instead."""

    index: int  # 0-based position among *decoded* frames (MOT frame = index + 1)
    time_s: float
    image: np.ndarray

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass
class Detections:
    """Boxes found in one frame, already clipped to it; degenerate ones removed and counted."""

    boxes: np.ndarray  # (N, 4) float32, xyxy pixels
    scores: np.ndarray  # (N,) float32
    labels: list[str] = field(default_factory=list)  # class name per box
    dropped: int = 0  # degenerate / fully-outside boxes removed while clipping

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if not self.labels:
            self.labels = ["object"] * len(self.boxes)
        if not (len(self.boxes) == len(self.scores) == len(self.labels)):
            raise ValueError("Detections: boxes, scores and labels differ in length")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), [])


@dataclass
class TrackedObject:
    """One confirmed observation the tracker reports for a frame."""

    track_id: int  # short-lived id from the online tracker
    entity_id: int  # long-lived id from memory: what the outputs call "id"
    box: np.ndarray  # (4,) float32 xyxy (the detection's box, not the Kalman prediction)
    score: float
    label: str
    det_index: int  # row in this frame's Detections (and its embeddings)
    state_box: np.ndarray | None = None  # (4,) xyxy of the Kalman state after this frame's update (what SORT-style trackers report)
