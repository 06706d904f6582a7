"""Choose the on-demand embedding settings on PETS09-S2L1 frames 1-400: quality vs boxes embedded.

    python benchmarks/ondemand_sweep.py ../shared/data/pets09-s2l1 --backend mobilenetv2 \\
        [--refresh 10,20,40] [--sure-iou 0.5] [--near-iou 0.2] [--margin 1.0,0.4] [--young-refresh 1,2]
        [--young 0] [--cache runs/sweep/mnv2.npz]

Runs `all` once, then `on_demand` for each combination, all through `PerceptionEngine` with the
same frames and det.txt, and scores frames 1-400 (TrackEval). With a CNN, every crop's
embedding is cached by the crop's bytes (`--cache`, kept between runs), so a setting replays the
exact pipeline in seconds: a crop embeds to the same vector whichever policy asked for it.
The `embedded %` column is what the policy would make a real run compute. Frames 401-795 are
never run here (held out).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from orion_core.bench import format_table, markdown_table
from orion_core.config import build_config
from orion_core.engine import PerceptionEngine
from orion_core.evaluate import evaluate_mot
from orion_core.tracking.ondemand import EmbedPlanner

COLUMNS = (
    ("policy", "policy", "{}"), ("refresh", "refresh", "{}"), ("sure IoU", "sure", "{}"), ("near IoU", "near", "{}"), ("margin", "margin", "{}"), ("young every", "young", "{}"),
    ("embedded %", "fraction", "{:.1f}"), ("HOTA", "HOTA", "{:.1f}"), ("AssA", "AssA", "{:.1f}"), ("IDF1", "IDF1", "{:.1f}"),
    ("IDSW", "IDSW", "{}"), ("ids", "Pred_IDs", "{}"), ("seconds", "seconds", "{:.1f}"),
)


class CropCache:
    """crop bytes -> embedding, persisted as .npz (keys: sha1 hex digests)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            data = np.load(path)
            self.rows = dict(zip(data["keys"].tolist(), data["rows"]))
        self.misses = 0

    def wrap(self, embedder) -> None:
        compute = embedder.encode

        def encode(images):
            images = list(images)
            keys = [hashlib.sha1(np.ascontiguousarray(im).tobytes() + str(im.shape).encode()).hexdigest() for im in images]
            todo = [i for i, k in enumerate(keys) if k not in self.rows]
            if todo:
                self.misses += len(todo)
                for i, row in zip(todo, compute([images[i] for i in todo])):
                    self.rows[keys[i]] = row
            return np.stack([self.rows[k] for k in keys]) if keys else np.zeros((0, embedder.dim), np.float32)

        embedder.encode = encode

    def save(self) -> None:
        if self.path is not None and self.rows:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys = list(self.rows)
            np.savez(self.path, keys=np.array(keys), rows=np.stack([self.rows[k] for k in keys]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--backend", default="histogram")
    parser.add_argument("--refresh", default="20")
    parser.add_argument("--sure-iou", default="0.5")
    parser.add_argument("--near-iou", default="0.2")
    parser.add_argument("--margin", default="0.4")
    parser.add_argument("--young", type=int, help="young_frames (default: memory.late_reid_frames)")
    parser.add_argument("--young-refresh", default="2", help="re-embed young tracks every N frames (comma separated)")
    parser.add_argument("--frames", type=int, default=400, help="frames 1..N (ground truth ends at 400)")
    parser.add_argument("--cache", type=Path, help="embedding cache (.npz), reused between runs")
    parser.add_argument("--out", type=Path, default=Path("runs/ondemand-sweep"))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if args.frames > 400:
        parser.error("--frames must be <= 400: frames 401-795 are held out")
    floats = lambda text: [float(v) for v in text.split(",") if v.strip()]  # noqa: E731
    cache = CropCache(args.cache)
    base = {
        "video": {"max_frames": args.frames},
        "detection": {"detector": "mot", "detections": str(args.data_dir / "det.txt"), "label": "person"},
        "embedding": {"backend": args.backend, "pooling": "crop", "device": "cpu"},
        "output": {"out_dir": str(args.out), "thumbnails": False},
    }
    engine = None
    settings = [("all", None, None, None, None, None)] + [
        ("on_demand", int(k), s, n, m, int(y))
        for k, s, n, m, y in itertools.product(floats(args.refresh), floats(args.sure_iou), floats(args.near_iou),
                                               floats(args.margin), floats(args.young_refresh))
    ]
    results = []
    for policy, refresh, sure, near, margin, young_refresh in settings:
        overrides = {**base, "embedding": {**base["embedding"], "policy": policy, "refresh_frames": refresh or 10}}
        config = build_config(overrides=overrides)
        if engine is None:
            engine = PerceptionEngine(config)
            cache.wrap(engine.embedder())
        engine.config = config  # same loaded embedder (the cache wraps it)
        if policy == "on_demand":
            engine._planner = lambda emb, k=refresh, s=sure, n=near, m=margin, y=young_refresh: EmbedPlanner(
                config.tracking, k, young_frames=config.memory.late_reid_frames if args.young is None else args.young, sure_iou=s, near_iou=n, margin=m, young_refresh=y)
        else:
            engine._planner = lambda emb: None
        name = f"{policy}-k{refresh}-s{sure}-n{near}-m{margin}-y{young_refresh}"
        started = time.perf_counter()
        result = engine.process_video(args.data_dir / "vtest.avi", episode=name)
        seconds = time.perf_counter() - started
        scores = evaluate_mot(args.data_dir / "gt-frames-001-400.txt", result.path / "tracks.txt", frames=(1, args.frames))
        results.append({"policy": policy, "refresh": refresh, "sure": sure, "near": near, "margin": margin, "young": young_refresh, "seconds": seconds,
                        "fraction": 100.0 * result.counts["embedded_fraction"], **scores})
        print(f"{name}: {results[-1]['fraction']:.1f}% embedded, IDF1 {scores['IDF1']:.1f}, {seconds:.1f} s "
              f"({cache.misses} crops computed so far)", file=sys.stderr)
        cache.save()
    print(f"PETS09-S2L1 frames 1-{args.frames}, backend {args.backend} (seconds: replayed from the cache where cached)")
    print(markdown_table(results, COLUMNS) if args.markdown else format_table(results, COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
