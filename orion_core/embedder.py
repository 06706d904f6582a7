"""VisualEmbedder: the one place that talks to a backend plugin.

It owns what every backend shares: device/precision resolution, batching to `batch_size`,
validation of what the plugin returns (an error names the plugin), L2 normalisation, and
crop vs region pooling. Plugins only turn pixels into vectors.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Sequence

import numpy as np

from .config import EmbeddingConfig, query_embedding_dim
from .device import resolve_device, resolve_precision
from .errors import ConfigError, OrionError, PluginError
from .exposure import compensate, compensate_all
from .hf import RANDOM_WARNING, random_weights
from .plugins import Backend, get_backend
from .vision import crop_box, l2_normalize, region_pool, usable_image

log = logging.getLogger(__name__)


class VisualEmbedder:
    """Embed crops, frame regions or clips with the backend named by `config.backend`."""

    def __init__(self, config: EmbeddingConfig | None = None, **kwargs: Any) -> None:
        config = config if config is not None else EmbeddingConfig(**kwargs)
        self.backend: Backend = get_backend(config.backend)
        device = resolve_device(config.device)
        precision = resolve_precision(config.precision, device)
        resolved = dataclasses.replace(config, device=device, precision=precision, embedding_dim=None)
        dim = query_embedding_dim(self.backend, resolved)
        # Only a dimension the user wrote is checked: one the config filled in from the plugin's
        # default model must not veto the weights_dir set after it (the design's own API does that).
        pinned = config.pinned_dim if isinstance(config, EmbeddingConfig) else config.embedding_dim
        if pinned is not None and pinned != dim:
            raise ConfigError(
                f"embedding.embedding_dim is {pinned} but backend {self.backend.name!r} "
                f"produces {dim} for this model; remove embedding_dim from the config"
            )
        self.config = dataclasses.replace(resolved, embedding_dim=dim)
        self.dim = dim
        self.pooling = self._resolve_pooling(config.pooling)
        self.stats = {"skipped": 0, "encoded": 0, "backend_calls": 0}
        self.model = self._call("load_embedder", config=self.config)
        self.backend.encoder = self.encode  # `embedder.backend.encode_image(image)`, as the design wrote it
        self.warnings: list[str] = []
        checkpoint = self.config.weights_dir or self.config.model
        if random_weights(checkpoint):
            message = RANDOM_WARNING.format(path=checkpoint)
            log.warning(message)
            self.warnings.append(message)

    # -- plumbing -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.backend.name

    def _resolve_pooling(self, pooling: str) -> str:
        has_maps = self.backend.has("encode_feature_maps")
        if pooling == "auto":
            return "region" if has_maps else "crop"
        if pooling == "region" and not has_maps:
            raise ConfigError(
                f"backend {self.name!r} has no feature maps, so --pooling region is impossible; use --pooling crop"
            )
        return pooling

    def _call(self, hook: str, **kwargs: Any) -> Any:
        try:
            return self.backend.call(hook, **kwargs)
        except OrionError:
            raise
        except Exception as exc:
            raise PluginError(f"backend {self.name!r}: {hook} failed: {type(exc).__name__}: {exc}") from exc

    def _validated(self, result: Any, rows: int, hook: str, ndim: int = 2) -> np.ndarray:
        """Check a plugin result's type, shape and values; returns float32 numpy.

        A plugin may return anything, so every way of getting it wrong (a string, a dict, a
        ragged list, Python objects, a tensor with no data) is one PluginError naming it.
        """
        where = f"backend {self.name!r}: {hook}"
        expected = f"({rows}, {self.dim}{', h, w' if ndim == 4 else ''})"
        if result is None:
            raise PluginError(f"{where} returned None")
        if hasattr(result, "detach"):  # torch tensor, without importing torch here
            if getattr(getattr(result, "device", None), "type", None) == "meta":
                raise PluginError(f"{where} returned a tensor on the 'meta' device, which holds no values")
            try:
                result = result.detach().float().cpu().numpy()
            except Exception as exc:
                raise PluginError(f"{where} returned a tensor that cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from None
        if not isinstance(result, (np.ndarray, list, tuple)):
            raise PluginError(f"{where} returned a {type(result).__name__}, expected a float array of shape {expected}")
        if isinstance(result, np.ndarray) and result.dtype.kind not in "fiu":
            raise PluginError(f"{where} returned an array of dtype {result.dtype}, expected floats of shape {expected}")
        try:
            array = np.asarray(result, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            raise PluginError(
                f"{where} returned a ragged or non-numeric {type(result).__name__}, expected a float array of shape {expected}"
            ) from None
        if array.ndim != ndim or array.shape[0] != rows or array.shape[1] != self.dim:
            raise PluginError(f"{where} returned shape {tuple(array.shape)}, expected {expected}")
        if not np.isfinite(array).all():
            raise PluginError(f"{where} returned NaN or infinite values")
        return array

    def _normalised(self, rows: np.ndarray, hook: str) -> np.ndarray:
        norms = np.linalg.norm(rows, axis=1)
        if len(rows) and (norms < 1e-12).any():
            raise PluginError(f"backend {self.name!r}: {hook} returned an all-zero embedding, which has no direction")
        return l2_normalize(rows)

    # -- public API -----------------------------------------------------------------------
    def encode_image(self, image: np.ndarray) -> np.ndarray:
        """One HxWx3 RGB uint8 image -> its (D,) unit embedding."""
        return self.encode([image])[0]

    def encode(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32 unit rows for HxWx3 RGB uint8 crops, in `batch_size` chunks."""
        images = list(images)
        for i, image in enumerate(images):
            if not usable_image(image):
                shape = getattr(image, "shape", None)
                raise ConfigError(f"image {i} is not an HxWx3 uint8 RGB array of at least 2x2 pixels (got shape {shape})")
        out = self._batched("encode_batch", "images", images)
        self.stats["encoded"] += len(images)
        return out

    def _batched(self, hook: str, argument: str, items: list) -> np.ndarray:
        """Call `hook` on `batch_size` chunks of `items`; validated, L2-normalised (N, D) rows."""
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        step = self.config.batch_size
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            raw = self._call(hook, embedder=self.model, **{argument: chunk})
            self.stats["backend_calls"] += 1
            out[start : start + len(chunk)] = self._normalised(self._validated(raw, len(chunk), hook), hook)
        return out

    def feature_maps(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(B, D, h, w) float32 patch features spanning whole frames (region-capable backends)."""
        frames = list(frames)
        raw = self._call("encode_feature_maps", embedder=self.model, frames=frames)
        self.stats["backend_calls"] += 1
        return self._validated(raw, len(frames), "encode_feature_maps", ndim=4)

    def encode_regions(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Region pooling: one forward pass per frame, each box = mean of the patch features it covers."""
        frames = list(frames)
        out: list[np.ndarray] = []
        step = self.config.batch_size
        for start in range(0, len(frames), step):
            chunk = frames[start : start + step]
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for i, frame in enumerate(chunk):
                by_shape.setdefault(frame.shape, []).append(i)
            pooled: dict[int, np.ndarray] = {}
            for indices in by_shape.values():
                maps = self.feature_maps([chunk[i] for i in indices])
                for i, fmap in zip(indices, maps):
                    frame_boxes = np.asarray(boxes[start + i], dtype=np.float32).reshape(-1, 4)
                    rows = region_pool(fmap, frame_boxes, chunk[i].shape[:2])
                    pooled[i] = self._normalised(rows, "encode_feature_maps")
            out.extend(pooled[i] for i in range(len(chunk)))
        self.stats["encoded"] += sum(len(b) for b in boxes)
        return out

    def encode_clips(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) unit rows for TxHxWx3 RGB crop sequences (video-native backends only)."""
        if not self.backend.has("encode_clips"):
            raise ConfigError(f"backend {self.name!r} does not encode clips; use a video backend such as vjepa2")
        return self._batched("encode_clips", "clips", list(clips))

    def embed_boxes(
        self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray], gains: Sequence[np.ndarray | None] | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Embeddings for the boxes of several frames in as few backend calls as possible.

        Returns per frame `(rows (n, D), valid (n,) bool)`. Crop mode fills batches ACROSS frames
        (one call per frame starves a GPU); boxes too small to crop get valid=False, never a zero vector.
        `gains`: per frame, the camera's exposure gains to divide out first (`orion_core.exposure`).
        """
        frames = list(frames)
        gains = [None] * len(frames) if gains is None else list(gains)
        if self.pooling == "region":
            rows = self.encode_regions(compensate_all(frames, gains), boxes)
            return [(r, np.ones(len(r), dtype=bool)) for r in rows]
        crops: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []
        results = []
        for f, (frame, frame_boxes, gain) in enumerate(zip(frames, boxes, gains)):
            frame_boxes = np.asarray(frame_boxes, dtype=np.float32).reshape(-1, 4)
            results.append((np.zeros((len(frame_boxes), self.dim), np.float32), np.zeros(len(frame_boxes), bool)))
            for b, box in enumerate(frame_boxes):
                crop = crop_box(frame, box, self.config.crop_padding)
                if crop is None:
                    self.stats["skipped"] += 1
                    continue
                crops.append(compensate(np.ascontiguousarray(crop), gain))
                owners.append((f, b))
        if crops:
            embedded = self.encode(crops)
            for (f, b), row in zip(owners, embedded):
                results[f][0][b] = row
                results[f][1][b] = True
        return results

    def embed_detections(self, detections: list[dict]) -> list[dict]:
        """Seed API: add `"embedding"` to each dict whose `"crop"` is usable; the rest are counted, not zero-filled."""
        usable = [d for d in detections if usable_image(d.get("crop"))]
        skipped = len(detections) - len(usable)
        if skipped:
            self.stats["skipped"] += skipped
            log.info("%d detection(s) had no usable crop and got no embedding", skipped)
        if usable:
            for det, row in zip(usable, self.encode([d["crop"] for d in usable])):
                det["embedding"] = row
        return detections
