"""The built-in weight-free backend: contract conformance and that it separates colours."""

from __future__ import annotations

import numpy as np

from orion_core.embedder import VisualEmbedder
from orion_core.testing import check_backend


def test_histogram_passes_the_plugin_kit():
    report = check_backend("histogram")
    assert report["dim"] == 512
    assert report["info"]["reid_threshold"] == 0.8


def _shirt_and_trousers(top, bottom, seed):
    rng = np.random.default_rng(seed)
    image = np.zeros((60, 30, 3), dtype=np.int16)
    image[:30] = top
    image[30:] = bottom
    return np.clip(image + rng.integers(-12, 12, size=image.shape), 0, 255).astype(np.uint8)


def test_histogram_tells_colours_and_layouts_apart():
    embedder = VisualEmbedder(backend="histogram")
    red_blue_a, red_blue_b, blue_red, green = embedder.encode(
        [
            _shirt_and_trousers((200, 30, 30), (30, 30, 200), 0),
            _shirt_and_trousers((200, 30, 30), (30, 30, 200), 1),
            _shirt_and_trousers((30, 30, 200), (200, 30, 30), 2),
            _shirt_and_trousers((30, 200, 30), (30, 200, 30), 3),
        ]
    )
    same = float(red_blue_a @ red_blue_b)
    assert same > 0.8
    assert float(red_blue_a @ blue_red) < same - 0.3  # same colours, swapped halves
    assert float(red_blue_a @ green) < 0.2
