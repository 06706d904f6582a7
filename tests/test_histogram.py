"""The built-in weight-free backend: contract conformance and that it separates colours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from orion_core.backends import histogram
from orion_core.embedder import VisualEmbedder
from orion_core.testing import check_backend


def test_histogram_passes_the_plugin_kit():
    report = check_backend("histogram")
    assert report["dim"] == 768
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
    assert float(red_blue_a @ blue_red) < same - 0.3  # same colours, swapped stripes
    assert float(red_blue_a @ green) < 0.2


def test_bins_are_the_ones_calchist_uses():
    axes = (np.arange(180, dtype=np.uint8), np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    every_hsv = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 1, 3)  # every HSV value once (35 MB)
    ours = np.bincount(histogram.bin_index(every_hsv).ravel(), minlength=histogram.PART_DIM)
    theirs = cv2.calcHist([every_hsv], [0, 1, 2], None, list(histogram.BINS), [0, 180, 0, 256, 0, 256]).ravel()
    np.testing.assert_array_equal(ours, theirs)


def _person_on(background, seed, width=40, height=90, margin=8):
    """A two-colour 'person' filling the box's centre, `margin` pixels of `background` around it (a loose box)."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.int16)
    image[:] = background
    image[margin : height // 2, margin : width - margin] = (200, 40, 40)
    image[height // 2 : height - margin, margin : width - margin] = (40, 40, 200)
    return np.clip(image + rng.integers(-10, 10, size=image.shape), 0, 255).astype(np.uint8)


def test_background_at_the_box_edges_counts_less_than_the_object():
    """One object in boxes with different backgrounds stays alike; different objects on one background stay apart.

    The kernel is why: the same comparison with uniform weights lets the background decide more.
    """
    grey, green = (128, 128, 128), (40, 170, 40)
    same_object = _person_on(grey, 0), _person_on(green, 1)
    other = _person_on(grey, 2)
    other[8:45, 8:32] = (40, 200, 40)  # a green shirt, not a red one
    rows = VisualEmbedder(backend="histogram").encode([*same_object, other])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    weighted_same, weighted_other = float(rows[0] @ rows[1]), float(rows[0] @ rows[2])

    def uniform(image):
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        bins = histogram.bin_index(hsv)
        parts = [np.bincount(bins[t:b].ravel(), minlength=histogram.PART_DIM) for t, b in histogram.stripe_rows(len(bins))]
        vector = np.sqrt(np.concatenate([p / p.sum() for p in parts]))
        return vector / np.linalg.norm(vector)

    flat = [uniform(image) for image in (*same_object, other)]
    assert weighted_same > float(flat[0] @ flat[1]) + 0.1  # the background swap matters much less
    assert weighted_same > weighted_other + 0.2


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 9), (9, 1), (2, 30), (30, 2), (3, 3), (200, 120)])
def test_every_box_size_gives_a_unit_stripe_per_part(shape):
    """Tiny and thin boxes (stripes sharing rows, stripes outside the kernel) still give finite, unit stripes."""
    image = np.random.default_rng(0).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    row = VisualEmbedder(backend="histogram").model.encode([image])[0]
    assert row.shape == (histogram.DIM,) and np.isfinite(row).all()
    stripes = row.reshape(histogram.PARTS, histogram.PART_DIM)
    np.testing.assert_allclose(np.linalg.norm(stripes, axis=1), 1.0, atol=1e-5)


def test_large_crops_are_read_every_kth_pixel_with_the_same_histogram():
    """Over MAX_PIXELS a crop is subsampled by the smallest step that fits; the embedding barely moves."""
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.integers(0, 256, size=(600, 300, 3), dtype=np.uint8), (0, 0), 3)
    small = big[:120, :100]
    assert histogram.subsample(small) is small  # 12,000 pixels: read whole
    assert histogram.subsample(big).shape[:2] == (150, 75)  # step 4: 11,250 pixels (step 3 leaves 20,000)
    full = histogram.stripe_histograms(cv2.cvtColor(big, cv2.COLOR_RGB2HSV))
    read = VisualEmbedder(backend="histogram").model.encode([big])[0]
    assert float(full @ read) / histogram.PARTS > 0.99
