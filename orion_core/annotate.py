"""Drawing for annotated.mp4: boxes, entity ids and short trails, one stable colour per entity.

Marks are drawn either on RGB images or straight onto the decoder's I420 planes (luma at full
resolution, chroma at half), which spares annotated.mp4 two colour conversions per frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .types import TrackedObject

FONT_SCALE = 0.5
BOX_THICKNESS = 2
BLACK_Y, WHITE_Y = 16, 235  # video-range luma of the label text and of the frame counter


def entity_colour(entity_id: int) -> tuple[int, int, int]:
    """A bright RGB colour that is stable for an id (golden-ratio hue steps keep neighbours apart)."""
    import colorsys

    hue = (entity_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def rgb_to_yuv(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    """The (Y, U, V) an RGB colour becomes in I420, by the same conversion the writer uses."""
    import cv2

    planes = cv2.cvtColor(np.full((2, 2, 3), colour, dtype=np.uint8), cv2.COLOR_RGB2YUV_I420)
    return int(planes[0, 0]), int(planes[2, 0]), int(planes[2, 1])


@dataclass
class Mark:
    """One object's drawing: box corners, label, trail points (pixels), colour."""

    box: tuple[int, int, int, int]
    label: str
    trail: np.ndarray
    colour: tuple[int, int, int]


class Annotator:
    """Keeps each entity's recent centres so trails can be drawn; memory bounded by `trail` per live id."""

    def __init__(self, trail: int = 30) -> None:
        self.trail = trail
        self.centres: dict[int, deque] = {}
        self._yuv: dict[tuple[int, int, int], tuple[int, int, int]] = {}

    def marks(self, objects: list[TrackedObject], warp: np.ndarray | None = None) -> list[Mark]:
        """This frame's marks; advances the trails (call once per frame). `warp`: the camera's 2x3
        motion since the previous frame drawn; the trails move with it, so they show where the
        object went in the scene, not how the camera swung."""
        if warp is not None and self.centres:
            linear, shift = np.asarray(warp, np.float64)[:, :2], np.asarray(warp, np.float64)[:, 2]
            for trail in self.centres.values():
                moved = np.asarray(trail, np.float64) @ linear.T + shift
                trail.clear()
                trail.extend((int(round(x)), int(round(y))) for x, y in moved)
        seen, marks = set(), []
        for obj in objects:
            seen.add(obj.entity_id)
            x1, y1, x2, y2 = (int(round(v)) for v in obj.box)
            trail = self.centres.setdefault(obj.entity_id, deque(maxlen=self.trail))
            trail.append(((x1 + x2) // 2, y2))
            marks.append(Mark((x1, y1, x2, y2), f"{obj.entity_id} {obj.label}", np.array(trail, dtype=np.int32),
                              entity_colour(obj.entity_id)))
        for entity_id in [e for e in self.centres if e not in seen]:
            self.centres[entity_id].popleft() if self.centres[entity_id] else None
            if not self.centres[entity_id]:
                del self.centres[entity_id]
        return marks

    def draw(self, image: np.ndarray, objects: list[TrackedObject], frame_index: int, warp: np.ndarray | None = None) -> np.ndarray:
        """A copy of the RGB `image` with the objects drawn (`warp`: see `marks`)."""
        canvas = np.ascontiguousarray(image.copy())
        for mark in self.marks(objects, warp):
            _paint(canvas, mark, mark.colour, scale=1, text=(0, 0, 0))
        _counter(canvas, frame_index, (255, 255, 255))
        return canvas

    def draw_yuv420(self, planes: np.ndarray, objects: list[TrackedObject], frame_index: int,
                    warp: np.ndarray | None = None) -> np.ndarray:
        """A copy of the I420 `planes` ((H*3/2)xW, H and W even) with the objects drawn (`warp`: see `marks`)."""
        canvas = np.array(planes, copy=True, order="C")
        height, width = canvas.shape[0] * 2 // 3, canvas.shape[1]
        luma = canvas[:height]
        chroma = [canvas[height + k * height // 4: height + (k + 1) * height // 4].reshape(height // 2, width // 2)
                  for k in (0, 1)]  # views: drawing on them draws on the frame
        for mark in self.marks(objects, warp):
            y, u, v = self._yuv.get(mark.colour) or self._yuv.setdefault(mark.colour, rgb_to_yuv(mark.colour))
            _paint(luma, mark, y, scale=1, text=BLACK_Y)
            for plane, value in zip(chroma, (u, v)):
                _paint(plane, mark, value, scale=2, text=None)
        _counter(luma, frame_index, WHITE_Y)
        return canvas


def _paint(canvas: np.ndarray, mark: Mark, colour, scale: int, text) -> None:
    """Box, label background (+ label text when `text` is a colour) and trail, at 1/`scale` resolution."""
    import cv2

    x1, y1, x2, y2 = (c // scale for c in mark.box)
    thickness = max(1, BOX_THICKNESS // scale)
    (tw, th), _ = cv2.getTextSize(mark.label, cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, 1)
    tw, th = tw // scale, th // scale
    pad = 6 // scale
    cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
    cv2.rectangle(canvas, (x1, max(0, y1 - th - pad)), (x1 + tw + 4 // scale, max(th + pad, y1)), colour, -1)
    if text is not None:
        cv2.putText(canvas, mark.label, (x1 + 2, max(th + 2, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, FONT_SCALE, text, 1, cv2.LINE_AA)
    if len(mark.trail) > 1:
        cv2.polylines(canvas, [mark.trail // scale], False, colour, thickness, cv2.LINE_AA)


def _counter(canvas: np.ndarray, frame_index: int, colour) -> None:
    import cv2

    cv2.putText(canvas, f"frame {frame_index + 1}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2, cv2.LINE_AA)
