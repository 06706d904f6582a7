"""Shared image geometry: crops, patch grids and region pooling."""

from __future__ import annotations

import numpy as np

from orion_core.vision import (
    Preprocess,
    box_cells,
    crop_box,
    l2_normalize,
    patch_grid_size,
    preprocess_from_processor,
    region_pool,
    resize_normalize,
)


def test_crop_box_pads_and_clips():
    image = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(100, 80, 3)
    crop = crop_box(image, (10, 20, 30, 60), padding=0.1)
    assert crop.shape == (48, 24, 3)  # 40 + 2*4 high, 20 + 2*2 wide
    assert crop_box(image, (70, 90, 200, 300)).shape == (10, 10, 3)  # clipped to the frame
    assert crop_box(image, (10, 10, 11, 11)) is None  # under 2x2
    assert crop_box(image, (np.nan, 0, 5, 5)) is None


def test_patch_grid_keeps_aspect_and_is_whole_patches():
    assert patch_grid_size((576, 768), patch=14, short_side=448) == (448, 602)
    height, width = patch_grid_size((360, 640), patch=16, short_side=256)
    assert height % 16 == 0 and width % 16 == 0 and abs(width / height - 640 / 360) < 0.05


def test_box_cells_cover_the_box():
    cells = box_cells(np.array([[0, 0, 10, 10], [95, 45, 100, 50], [33, 10, 34, 11]]), (50, 100), (5, 10))
    assert cells.tolist() == [[0, 1, 0, 1], [4, 5, 9, 10], [1, 2, 3, 4]]


def test_region_pool_equals_mean_of_cells():
    rng = np.random.default_rng(0)
    fmap = rng.normal(size=(6, 4, 8)).astype(np.float32)
    frame_hw = (40, 80)  # cell = 10x10 pixels
    boxes = np.array([[12, 5, 38, 27], [0, 0, 80, 40], [79, 39, 80, 40]], dtype=np.float32)
    pooled = region_pool(fmap, boxes, frame_hw)
    np.testing.assert_allclose(pooled[0], fmap[:, 0:3, 1:4].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[1], fmap.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[2], fmap[:, 3, 7], rtol=1e-5, atol=1e-6)
    assert region_pool(fmap, np.zeros((0, 4)), frame_hw).shape == (0, 6)


def test_preprocess_reads_processor_config():
    prep = preprocess_from_processor(
        {"crop_size": {"height": 256, "width": 256}, "size": {"shortest_edge": 288}, "image_mean": [0.4, 0.4, 0.3], "image_std": [0.2, 0.2, 0.2]}
    )
    assert prep.size == (256, 256) and prep.mean == (0.4, 0.4, 0.3) and prep.std == (0.2, 0.2, 0.2)
    assert preprocess_from_processor({}).size == (224, 224)


def test_resize_normalize_uses_mean_and_std():
    image = np.full((10, 20, 3), 255, dtype=np.uint8)
    batch = resize_normalize([image], (8, 8), Preprocess(size=(8, 8), mean=(0.5, 0.0, 1.0), std=(0.5, 1.0, 0.25)))
    assert batch.shape == (1, 3, 8, 8) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, :, 0, 0], [1.0, 1.0, 0.0], atol=1e-6)


def test_l2_normalize():
    rows = l2_normalize(np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 1.0]])
