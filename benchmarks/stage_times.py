"""Stage seconds of one Orion run on PETS09-S2L1 (det.txt), as one JSON line.

    python benchmarks/stage_times.py ../shared/data/pets09-s2l1 mobilenetv2 [--max-frames 200] [--out runs/stages]

Run it from the root of another checkout (e.g. `git worktree add /tmp/before <commit>`, then
`cd /tmp/before && python /path/to/benchmarks/stage_times.py ...`) to time that version: the
checkout in the current folder is imported first. Prints wall seconds, `run.json`-style stage
seconds and the fraction of boxes embedded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if os.path.isdir("orion_core"):
    sys.path.insert(0, os.getcwd())  # the checkout in the current folder


def main() -> None:
    import orion_core
    from orion_core.config import build_config
    from orion_core.engine import PerceptionEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("backend")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument("--policy", choices=["all", "on_demand"])
    parser.add_argument("--save-video", action="store_true")
    parser.add_argument("--out", default="runs/stages")
    args = parser.parse_args()
    embedding = {"backend": args.backend, **({"policy": args.policy} if args.policy else {})}
    config = build_config(overrides={
        "video": {"max_frames": args.max_frames},
        "detection": {"detector": "mot", "detections": str(args.data_dir / "det.txt"), "label": "person"},
        "embedding": embedding,
        "output": {"out_dir": args.out, "save_video": args.save_video or None},
    })
    started = time.perf_counter()
    result = PerceptionEngine(config).process_video(args.data_dir / "vtest.avi")
    wall = time.perf_counter() - started
    print(json.dumps({
        "code": os.path.dirname(orion_core.__file__), "frames": result.counts["frames"], "wall": round(wall, 2),
        "embedded_fraction": result.counts.get("embedded_fraction"),
        "timings": {k: round(v, 2) for k, v in result.timings.items()},
    }))


if __name__ == "__main__":
    main()
