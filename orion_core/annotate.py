"""Drawing for annotated.mp4: boxes, entity ids and short trails, one stable colour per entity."""

from __future__ import annotations

from collections import deque

import numpy as np

from .types import TrackedObject


def entity_colour(entity_id: int) -> tuple[int, int, int]:
    """A bright RGB colour that is stable for an id (golden-ratio hue steps keep neighbours apart)."""
    import colorsys

    hue = (entity_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


class Annotator:
    """Keeps each entity's recent centres so trails can be drawn; memory bounded by `trail` per live id."""

    def __init__(self, trail: int = 30) -> None:
        self.trail = trail
        self.centres: dict[int, deque] = {}

    def draw(self, image: np.ndarray, objects: list[TrackedObject], frame_index: int) -> np.ndarray:
        import cv2

        canvas = np.ascontiguousarray(image.copy())
        seen = set()
        for obj in objects:
            seen.add(obj.entity_id)
            colour = entity_colour(obj.entity_id)
            x1, y1, x2, y2 = (int(round(v)) for v in obj.box)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
            label = f"{obj.entity_id} {obj.label}"
            (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
            cv2.rectangle(canvas, (x1, max(0, y1 - th - 6)), (x1 + tw + 4, max(th + 6, y1)), colour, -1)
            cv2.putText(canvas, label, (x1 + 2, max(th + 2, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
            trail = self.centres.setdefault(obj.entity_id, deque(maxlen=self.trail))
            trail.append(((x1 + x2) // 2, y2))
            if len(trail) > 1:
                cv2.polylines(canvas, [np.array(trail, dtype=np.int32)], False, colour, 2, cv2.LINE_AA)
        for entity_id in [e for e in self.centres if e not in seen]:
            self.centres[entity_id].popleft() if self.centres[entity_id] else None
            if not self.centres[entity_id]:
                del self.centres[entity_id]
        cv2.putText(canvas, f"frame {frame_index + 1}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        return canvas
