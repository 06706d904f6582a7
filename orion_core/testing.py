"""Conformance checks for backend plugin authors: call `check_backend("mybackend")` in your tests.

They exercise the plugin through the same path `orion run` takes (entry point -> VisualEmbedder),
so a pass means the backend works in the pipeline, not just in isolation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SIZES = ((48, 32), (32, 48), (64, 64), (24, 40), (40, 40))


def sample_images(count: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Deterministic RGB uint8 crops of assorted sizes (a gradient plus noise, so no two are alike)."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        height, width = SIZES[i % len(SIZES)]
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        noise = rng.integers(0, 96, size=(height, width, 3)).astype(np.float32)
        tint = np.array([(i * 53) % 256, (i * 97) % 256, (i * 31) % 256], dtype=np.float32)
        images.append(np.clip(0.5 * ramp + noise + 0.4 * tint, 0, 255).astype(np.uint8))
    return images


def check_backend(name: str, atol: float = 1e-4, **config: Any) -> dict:
    """Run the contract checks on backend `name`; raises AssertionError on the first failure.

    Checks: a positive int dim from `embedding_dim` (no weights), float output of shape (N, D) for
    0, 1 and many images, unit norm after the core's L2, determinism, batch-size independence,
    and the shapes of the optional hooks. Returns a small report dict.
    """
    from .config import EmbeddingConfig
    from .embedder import VisualEmbedder
    from .plugins import get_backend

    config.setdefault("device", "cpu")
    config.setdefault("precision", "fp32")
    cfg = EmbeddingConfig(backend=name, **config)
    dim = cfg.embedding_dim
    assert isinstance(dim, int) and dim > 0, f"{name}: embedding_dim must be a positive int, got {dim!r}"
    backend = get_backend(name)

    embedder = VisualEmbedder(EmbeddingConfig(backend=name, **{**config, "batch_size": 4}))
    images = sample_images(5)

    raw = embedder._call("encode_batch", embedder=embedder.model, images=images[:2])
    raw = embedder._validated(raw, 2, "encode_batch")
    assert raw.dtype == np.float32 and raw.shape == (2, dim)

    empty = embedder.encode([])
    assert empty.shape == (0, dim), f"{name}: empty input gave {empty.shape}"
    one = embedder.encode(images[:1])
    assert one.shape == (1, dim), f"{name}: one image gave {one.shape}"
    many = embedder.encode(images)
    assert many.shape == (5, dim) and many.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(many, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(one[0], many[0], atol=atol, err_msg=f"{name}: result depends on the batch")

    again = embedder.encode(images)
    np.testing.assert_allclose(again, many, atol=atol, err_msg=f"{name}: not deterministic")
    single = VisualEmbedder(EmbeddingConfig(backend=name, **{**config, "batch_size": 1})).encode(images)
    np.testing.assert_allclose(single, many, atol=atol, err_msg=f"{name}: batch_size changes the result")
    assert not np.allclose(many[0], many[1], atol=1e-3), f"{name}: different images gave the same embedding"

    report = {"backend": name, "dim": dim, "hooks": list(backend.record.hooks)}
    if backend.has("encode_feature_maps"):
        frames = [np.ascontiguousarray(np.tile(images[2], (2, 3, 1)))] * 2  # 128x192 frames
        maps = embedder.feature_maps(frames)
        assert maps.ndim == 4 and maps.shape[:2] == (2, dim) and maps.shape[2] > 0 and maps.shape[3] > 0
        report["feature_grid"] = tuple(maps.shape[2:])
    if backend.has("encode_clips"):
        clips = [np.stack([images[2], images[2]]), np.stack([images[3], images[3], images[3]])]
        rows = embedder.encode_clips(clips)
        assert rows.shape == (2, dim)
        report["clips"] = True
    if backend.has("backend_info"):
        info = backend.info()
        assert isinstance(info, dict), f"{name}: backend_info must return a dict"
        report["info"] = info
    return report


def assert_one_line(message: str, *fragments: str) -> None:
    """An error a user sees: one non-empty line that contains every fragment."""
    assert message and "\n" not in message, f"not a single line: {message!r}"
    for fragment in fragments:
        assert fragment in message, message


def check_weights_errors(name: str, good_folder: str | Path, tmp_path: str | Path) -> None:
    """Bad `--weights` paths for a backend that loads Hugging Face folders: each must be one WeightsError line.

    Covers a missing path, an empty folder, a text file, a folder with no weights file, and
    `model.safetensors` truncated in half and by its last 100 bytes. `good_folder` must load.
    """
    import shutil

    import pytest

    from .config import EmbeddingConfig
    from .embedder import VisualEmbedder
    from .errors import WeightsError

    good, tmp = Path(good_folder), Path(tmp_path)

    def error(path: Path, load: bool = False) -> str:
        with pytest.raises(WeightsError) as info:
            config = EmbeddingConfig(backend=name, weights_dir=str(path), device="cpu", precision="fp32")
            if load:
                VisualEmbedder(config)
        return str(info.value)

    assert_one_line(error(tmp / "missing"), "does not exist")
    (tmp / "empty").mkdir()
    assert_one_line(error(tmp / "empty"), "no config.json")
    notes = tmp / "notes.txt"
    notes.write_text("not a model")
    assert_one_line(error(notes), "is a file", "config.json")
    no_weights = tmp / "no-weights"
    shutil.copytree(good, no_weights)
    (no_weights / "model.safetensors").unlink()
    assert_one_line(error(no_weights, load=True), "no weights")
    for label, cut in (("half", lambda size: size // 2), ("tail", lambda size: size - 100)):
        truncated = tmp / f"truncated-{label}"
        shutil.copytree(good, truncated)
        weights = truncated / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: cut(weights.stat().st_size)])
        assert_one_line(error(truncated, load=True), "truncated")
