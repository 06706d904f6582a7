"""V-JEPA 2 clips in memory (issue 10 item 5): re-ID on clip embeddings of a tracklet's crops."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orion_core.config import MemoryConfig, TrackingConfig
from orion_core.tracking import EntityMemory, Tracker
from orion_core.tracking.clips import SIDE, ClipBank
from orion_core.types import Detections


def colour_clip_encoder(calls: list):
    """Stand-in for a video backend: a clip's mean colour (what single crops below do not carry)."""

    def encode(clips):
        calls.append([c.shape for c in clips])
        rows = np.stack([c.reshape(-1, 3).mean(axis=0) - 100.0 for c in clips]).astype(np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return encode


def test_a_track_keeps_few_crops_spread_over_its_whole_life():
    calls: list = []
    bank = ClipBank(colour_clip_encoder(calls), frames=4)
    image = np.full((100, 100, 3), 50, np.uint8)
    for f in range(1000):
        bank.observe([7], f, image, np.array([[10.0, 10.0, 40.0, 60.0]]), np.array([True]))
    store = bank._tracks[7]
    assert len(store.crops) < 8 and all(c.shape == (SIDE, SIDE, 3) for c in store.crops)  # bounded
    assert store.frames[0] == 0 and store.frames[-1] > 500  # spread across the tracklet
    assert bank.clip(7) is not None and bank.clip(7) is bank.clip(7)  # cached until the crops change
    assert calls == [[(4, SIDE, SIDE, 3)]]
    bank.observe([8], 0, image, np.array([[10.0, 10.0, 40.0, 60.0]]), np.array([False]))  # covered: not kept
    assert bank.clip(8) is None


def scene_frame(f: int, red_visible: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A red object that leaves (frames 20-59) and comes back elsewhere; a blue one stays."""
    image = np.full((240, 400, 3), 90, np.uint8)
    boxes = [[300, 20 + f, 340, 100 + f]]  # blue, drifting down
    image[20 + f : 100 + f, 300:340] = (30, 30, 200)
    if red_visible:
        x = 40 + 2 * f if f < 20 else 160
        boxes.append([x, 130, x + 40, 210])
        image[130:210, x : x + 40] = (200, 30, 30)
    return image, np.array(boxes, np.float32), ["person"] * len(boxes)


def run_scene(clips: bool) -> tuple[Tracker, dict]:
    calls: list = []
    memory = EntityMemory(MemoryConfig(clips=clips), reid_threshold=0.9)
    bank = ClipBank(colour_clip_encoder(calls), frames=2, calibration=memory.clip_calibration)
    tracker = Tracker(TrackingConfig(max_age=10), memory=memory, clips=bank)
    red_ids = {}
    # Single-crop embeddings that fail re-ID: the red object's crops change completely while it
    # is away (a turn, new lighting), so before and after share nothing; its colour stays.
    looks = np.eye(8, dtype=np.float32)
    for f in range(80):
        red = f < 20 or f >= 60
        image, boxes, labels = scene_frame(f, red)
        dets = Detections(boxes, np.full(len(boxes), 0.9, np.float32), labels)
        emb = np.stack([looks[0], looks[1] if f < 20 else looks[2]])[: len(boxes)]
        for obj in tracker.update(f, dets, emb, None, image=image):
            if obj.det_index == 1:
                red_ids[f] = obj.entity_id
    return tracker, red_ids


def test_clip_embeddings_reidentify_what_single_crops_cannot():
    tracker, red = run_scene(clips=True)
    assert red[10] == red[75]  # the red object came back as itself
    assert tracker.memory.stats["clip_decisions"] >= 1
    blind, red_blind = run_scene(clips=False)  # crops alone: before and after share nothing
    assert red_blind[10] != red_blind[75] and blind.memory.stats["clip_decisions"] == 0


@pytest.fixture(scope="module")
def tiny_vjepa2(tmp_path_factory):
    pytest.importorskip("orion_vjepa2")
    torch = pytest.importorskip("torch")
    from transformers import VJEPA2Config, VJEPA2Model, VJEPA2VideoProcessor

    folder = tmp_path_factory.mktemp("vjepa2-tiny")
    torch.manual_seed(0)
    config = VJEPA2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2.0,
        crop_size=32, patch_size=16, tubelet_size=2, frames_per_clip=8,
        pred_hidden_size=16, pred_num_hidden_layers=1, pred_num_attention_heads=2, pred_num_mask_tokens=2,
    )  # fmt: skip
    VJEPA2Model(config).save_pretrained(folder)
    VJEPA2VideoProcessor(crop_size=32).save_pretrained(folder)
    return folder


def test_vjepa2_runs_keep_clip_embeddings_in_memory(tiny_vjepa2, tmp_path):
    from orion_core.config import build_config
    from orion_core.engine import PerceptionEngine
    from orion_core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", seed=0, frames=60)
    config = build_config(overrides={
        "embedding": {"backend": "vjepa2", "weights_dir": str(tiny_vjepa2), "device": "cpu", "precision": "fp32", "pooling": "crop"},
        "detection": {"detector": "mot", "detections": str(scene.det_path), "label": "object"},
    })
    result = PerceptionEngine(config).process_video(scene.video_path, out_dir=tmp_path / "runs")
    run = json.loads((result.path / "run.json").read_text())
    clips = run["tracker"]["clips"]
    assert clips["clips_encoded"] >= 1 and clips["frames_per_clip"] == 2
    assert run["tracker"]["calibration"]["source"] in ("prior", "raised", "fitted", "uninformative")
