"""Embedding throughput for several models and precisions in one process (used by gpu.sh).

    python benchmarks/embed_matrix.py --device cuda --precision bf16,fp32 --batch-size 256 \
        --frame-batch-size 64 --items 512 --budget-s 200 dinov2=models/rand-dinov2-small ...

Each MODEL argument is BACKEND=WEIGHTS_DIR (or just BACKEND for a weight-free one). Per model and
precision it runs `orion_core.bench.bench_embed` twice: crops (encode + crop pooling) at
--batch-size crops per call, and region pooling at --frame-batch-size frames per call (a frame is
~5x the tokens of a crop). One process, so torch and CUDA start once. Configurations are started
only while --budget-s seconds have not passed, so the whole run has a predictable ceiling.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from orion_core.bench import bench_embed, format_table, markdown_table

COLUMNS = (
    ("model", "label", "{}"), ("mode", "mode", "{}"), ("k", "boxes_per_frame", "{}"), ("items", "items", "{}"),
    ("batch", "batch_size", "{}"), ("dtype", "precision", "{}"), ("orion items/s", "orion_items_per_s", "{:.1f}"),
    ("raw items/s", "raw_items_per_s", "{:.1f}"), ("ratio", "ratio", "{:.3f}"), ("raw baseline", "raw_baseline", "{}"),
)


def parse_model(spec: str) -> tuple[str, str | None, str]:
    """'dinov2=models/x' -> (backend, weights, label)."""
    backend, _, weights = spec.partition("=")
    return backend, weights or None, Path(weights).name if weights else backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Embedding throughput matrix (models x precisions x crop/region).")
    parser.add_argument("models", nargs="+", help="BACKEND=WEIGHTS_DIR (or BACKEND)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="comma separated, e.g. bf16,fp32")
    parser.add_argument("--batch-size", type=int, default=256, help="crops per backend call")
    parser.add_argument("--frame-batch-size", type=int, default=64, help="frames per call for region pooling")
    parser.add_argument("--items", type=int, default=512, help="crops or boxes per timed pass")
    parser.add_argument("--boxes-per-frame", default="2,8,32")
    parser.add_argument("--frame-size", default="768x576", help="WIDTHxHEIGHT of the synthetic frames")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is steadier on a shared CPU)")
    parser.add_argument("--budget-s", type=float, default=0, help="start no new configuration after this many seconds (0 = no limit)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    per_frame = [int(k) for k in args.boxes_per_frame.split(",")]
    width, height = (int(v) for v in args.frame_size.lower().split("x"))
    rows: list[dict] = []
    skipped: list[str] = []
    plan = [
        (spec, precision, modes, batch)
        for spec in args.models
        for precision in args.precision.split(",")
        for modes, batch in ((("encode", "crop"), args.batch_size), (("region",), args.frame_batch_size))
    ]
    for spec, precision, modes, batch in plan:
        backend, weights, label = parse_model(spec)
        what = f"{label} {precision} {'+'.join(modes)} batch {batch}"
        if args.budget_s and time.perf_counter() - started > args.budget_s:
            skipped.append(what)
            continue
        t = time.perf_counter()
        timings = bench_embed(
            backend, weights=weights, modes=modes, batch_sizes=(batch,), device=args.device, precisions=(precision,),
            items=args.items, boxes_per_frame=per_frame, frame_size=(width, height), repeats=args.repeats,
            warmup=args.warmup, threads=args.threads, report=lambda m: print(f"note: {m}", file=sys.stderr),
        )
        new = [{**timing.to_dict(), "label": label} for timing in timings]
        rows += new
        print(f"[{time.perf_counter() - started:6.1f} s] {what}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        print(format_table(new, COLUMNS), file=sys.stderr, flush=True)  # partial results survive a timeout
        if args.json:
            _write_json(args.json, rows)

    device = rows[0]["device"] if rows else args.device
    print(f"Embedding throughput on {device} ({_device_name(device)}), {args.items} items per pass, "
          f"median of {args.repeats} after {args.warmup} warm-up")
    print(markdown_table(rows, COLUMNS) if args.markdown else format_table(rows, COLUMNS))
    print("ratio = Orion items/s / raw items/s; items = crops (encode) or boxes (crop, region); k = boxes per frame; "
          "batch = crops per call (encode, crop) or frames per call (region)")
    if skipped:
        print(f"not run (over the {args.budget_s:.0f} s budget): {'; '.join(skipped)}")
    if "ultralytics" in sys.modules:  # GPU boxes often lack it: the embedding path must not need it
        print("error: ultralytics was imported on the embedding path", file=sys.stderr)
        return 1
    return 0


def _write_json(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name()
    import platform

    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
