"""One `test_hook_<name>` per hook spec (a meta-test below insists), each through VisualEmbedder."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from orion_core import hookspecs
from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.plugins import get_backend, register_backend, reset_plugins, unregister_backend

from fakes import make_backend

ROOT = Path(__file__).resolve().parents[1]
HOOKS = [name for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "orion_spec")]


def signature(name: str) -> str:
    return f"{name}({', '.join(inspect.signature(getattr(hookspecs, name)).parameters)})"


def test_every_hook_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert len(HOOKS) == 6
    for name in HOOKS:
        assert signature(name) in readme, f"README.md does not document {signature(name)}"


def test_every_hook_has_a_test():
    sources = "\n".join(p.read_text() for p in [*ROOT.glob("tests/test_*.py"), *ROOT.glob("plugins/*/tests/test_*.py")])
    for name in HOOKS:
        assert re.search(rf"def test_hook_{name}\b", sources), f"no test_hook_{name}"


@pytest.fixture
def clip_backend():
    module = make_backend(dim=4)
    from orion_core import hookimpl

    @hookimpl
    def encode_clips(embedder, clips):
        return np.stack([np.array([len(c), c.mean() + 1, 1.0, 1.0], np.float32) for c in clips])

    @hookimpl
    def backend_info():
        return {"description": "clips", "reid_threshold": 0.5}

    module.encode_clips = encode_clips
    module.backend_info = backend_info
    register_backend("clipper", module)
    yield "clipper"
    unregister_backend("clipper")
    reset_plugins()


def test_hook_embedding_dim():
    assert EmbeddingConfig(backend="histogram").embedding_dim == 768


def test_hook_load_embedder():
    embedder = VisualEmbedder(backend="histogram")
    assert type(embedder.model).__name__ == "HistogramEmbedder"


def test_hook_encode_batch():
    rows = VisualEmbedder(backend="histogram").encode([np.zeros((8, 8, 3), np.uint8)])
    assert rows.shape == (1, 768)


def test_hook_encode_feature_maps():
    grid = np.ones((4, 2, 3), np.float32)
    register_backend("mapper", make_backend(dim=4, feature_maps=lambda frames: np.stack([grid] * len(frames))))
    try:
        maps = VisualEmbedder(backend="mapper").feature_maps([np.zeros((20, 30, 3), np.uint8)] * 3)
        assert maps.shape == (3, 4, 2, 3)
    finally:
        unregister_backend("mapper")
        reset_plugins()


def test_hook_encode_clips(clip_backend):
    rows = VisualEmbedder(backend=clip_backend).encode_clips([np.zeros((2, 4, 4, 3), np.uint8), np.zeros((3, 4, 4, 3), np.uint8)])
    assert rows.shape == (2, 4)
    assert rows[1, 0] > rows[0, 0]  # the three-frame clip's first component is larger


def test_hook_backend_info(clip_backend):
    assert get_backend(clip_backend).info()["reid_threshold"] == 0.5
    assert get_backend("histogram").info()["reid_threshold"] == 0.8
