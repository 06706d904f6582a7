"""Per-frame cost of `Tracker.update` (with memory) on synthetic random walkers.

    python benchmarks/bench_tracker.py [--frames 300] [--objects 10,50,200] [--dim 128]

Walkers drift with random velocities inside a 1920x1080 frame; detections jitter, 5% are
missed and 10% get a low score (second pass); embeddings are a fixed identity vector plus
noise, L2-normalised. Only `update` is timed (detection generation is not). The `entities`
column should equal the object count: every walker kept one id.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from orion_core.config import MemoryConfig, TrackingConfig
from orion_core.tracking import EntityMemory, Tracker
from orion_core.types import Detections

WIDTH, HEIGHT = 1920.0, 1080.0


class Walkers:
    """`n` boxes on bounded random walks, with noisy detections and embeddings."""

    def __init__(self, n: int, dim: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.size = np.stack([self.rng.uniform(30, 80, n), self.rng.uniform(60, 160, n)], axis=1)
        self.pos = self.rng.uniform(self.size, [WIDTH, HEIGHT] - self.size)
        self.vel = self.rng.normal(0, 3, (n, 2))
        identity = self.rng.normal(size=(n, dim))
        self.identity = identity / np.linalg.norm(identity, axis=1, keepdims=True)

    def step(self) -> tuple[Detections, np.ndarray]:
        rng, n = self.rng, len(self.pos)
        self.vel = np.clip(self.vel + rng.normal(0, 0.3, self.vel.shape), -6, 6)
        self.pos += self.vel
        low, high = self.size / 2, np.array([WIDTH, HEIGHT]) - self.size / 2
        bounced = (self.pos < low) | (self.pos > high)
        self.vel[bounced] *= -1
        self.pos = np.clip(self.pos, low, high)
        seen = rng.random(n) > 0.05
        boxes = np.concatenate([self.pos - self.size / 2, self.pos + self.size / 2], axis=1)
        boxes = boxes + rng.normal(0, 1.5, boxes.shape)
        scores = np.where(rng.random(n) < 0.1, rng.uniform(0.15, 0.45, n), rng.uniform(0.6, 1.0, n))
        emb = self.identity + rng.normal(0, 0.03, self.identity.shape)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        order = rng.permutation(np.flatnonzero(seen))
        dets = Detections(boxes[order].astype(np.float32), scores[order].astype(np.float32), ["person"] * len(order))
        return dets, emb[order].astype(np.float32)


def run(n: int, frames: int, dim: int, appearance: bool, seed: int = 0) -> dict:
    walkers = Walkers(n, dim, seed)
    memory = EntityMemory(MemoryConfig(), reid_threshold=0.75)
    tracker = Tracker(TrackingConfig(appearance=appearance), memory=memory)
    times = []
    for frame in range(frames):
        dets, emb = walkers.step()
        start = time.perf_counter()
        tracker.update(frame, dets, emb if appearance else None, None)
        times.append(time.perf_counter() - start)
    tracker.finish()
    ms = np.array(times[10:] or times) * 1e3  # the first frames allocate and confirm
    return {
        "mean": ms.mean(),
        "p50": np.median(ms),
        "p95": np.percentile(ms, 95),
        "entities": memory.stats["entities"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames per run (default 300)")
    parser.add_argument("--objects", default="10,50,200", help="comma-separated object counts")
    parser.add_argument("--dim", type=int, default=128, help="embedding dimension (default 128)")
    args = parser.parse_args()
    counts = [int(c) for c in args.objects.split(",")]
    print(f"Tracker.update per frame, {args.frames} frames, {args.dim}-d embeddings, memory on; "
          f"{platform.processor() or platform.machine()}, numpy {np.__version__}")
    print(f"{'objects':>7} {'mode':<11} {'mean ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'entities':>8}")
    for n in counts:
        for appearance in (True, False):
            r = run(n, args.frames, args.dim, appearance)
            mode = "appearance" if appearance else "motion"
            print(f"{n:>7} {mode:<11} {r['mean']:>8.3f} {r['p50']:>8.3f} {r['p95']:>8.3f} {r['entities']:>8}")


if __name__ == "__main__":
    main()
