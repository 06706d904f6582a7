"""Per-crop cost of an embedding backend by crops per backend call (on-demand embeds 1-3 per frame).

    python benchmarks/batch_cost.py [--backend mobilenetv2] [--threads 1] [--sizes 1,2,4,8,16,32]

The same 32 synthetic pedestrian crops go through `VisualEmbedder.encode` in calls of each size,
the sizes in round-robin order (a slow spell of a shared machine hits all of them), 3 rounds;
the median ms per crop is printed per size.
"""

from __future__ import annotations

import argparse
import statistics
import time

from orion_core.bench import ensure_backend, sample_crops
from orion_core.config import EmbeddingConfig
from orion_core.embedder import VisualEmbedder
from orion_core.stages import set_torch_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="mobilenetv2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", default="1,2,4,8,16,32")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    set_torch_threads(args.threads)
    ensure_backend(args.backend)
    embedder = VisualEmbedder(EmbeddingConfig(backend=args.backend, device="cpu", batch_size=64, pooling="crop"))
    crops = sample_crops(32, (768, 576), 0, 0.0)
    sizes = [int(v) for v in args.sizes.split(",")]
    per_crop: dict[int, list[float]] = {s: [] for s in sizes}
    embedder.encode(crops[:4])  # warm-up
    for _ in range(args.rounds):
        for size in sizes:
            started = time.perf_counter()
            for i in range(0, len(crops), size):
                embedder.encode(crops[i : i + size])
            per_crop[size].append((time.perf_counter() - started) / len(crops) * 1000)
    print(f"{args.backend}, {args.threads} torch thread(s), {len(crops)} crops, median of {args.rounds} rounds")
    for size in sizes:
        print(f"crops per call {size:3d}: {statistics.median(per_crop[size]):7.1f} ms per crop")


if __name__ == "__main__":
    main()
