#!/usr/bin/env bash
# Embedding throughput on a CUDA machine, offline, from a bare checkout (no pip install needed).
#
#   bash benchmarks/gpu.sh [WORK_DIR]                 # full-size random dinov2-S/B and dinov3-B, on cuda
#                                                     # (rows also go to $OUT/embed.json when OUT is set)
#   ORION_BENCH_DEVICE=cpu ORION_BENCH_TINY=1 bash benchmarks/gpu.sh /tmp/x   # the same path on a CPU, tiny models
#
# Builds random-weight checkpoints with the published architectures
# (benchmarks/make_random_checkpoint.py), then times the Orion embedding stage against the raw
# model forward (benchmarks/embed_matrix.py -> orion_core.bench): crop and region pooling, bf16
# and fp32, 256 crops or 64 frames per call. Needs torch, transformers, safetensors, numpy, opencv
# and pluggy (measured: that is all the embedding path imports); not ultralytics, not the network. Plugins are imported from
# PYTHONPATH and registered in-process (orion_core.bench.ensure_backend), since a bare checkout
# has no entry points. Designed to finish in under 5 minutes on one H100: every step has a
# timeout, the whole script stays under ORION_BENCH_LIMIT_S (default 285 s), and benchmark
# configurations stop starting when fewer than 70 s are left (their rows stream to stderr).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH=".:plugins/orion-dinov2:plugins/orion-dinov3:plugins/orion-vjepa2:plugins/orion-mobilenetv2${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 YOLO_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
PYTHON="${PYTHON:-python}"
WORK="${1:-/tmp/orion-gpu-bench}"  # checkpoints (~0.8 GB); keep them out of any folder that is shipped back
RESULTS="${OUT:-$WORK}/embed.json"
DEVICE="${ORION_BENCH_DEVICE:-cuda}"
LIMIT="${ORION_BENCH_LIMIT_S:-285}"  # the whole script stays under this many seconds
if [[ -n "${ORION_BENCH_TINY:-}" ]]; then
    SIZES="dinov2:tiny dinov3:tiny"; ITEMS=16; BATCH=8; FRAME_BATCH=4; FRAME_SIZE=192x144
else
    SIZES="dinov2:small dinov2:base dinov3:base"; ITEMS=512; BATCH=256; FRAME_BATCH=64; FRAME_SIZE=768x576
fi
mkdir -p "$WORK"
START=$SECONDS

"$PYTHON" - "$DEVICE" <<'EOF'
import importlib.util, sys
need = ["torch", "transformers", "safetensors", "numpy", "cv2", "pluggy"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu.sh: missing Python modules: {', '.join(missing)}")
import torch
if sys.argv[1].startswith("cuda") and not torch.cuda.is_available():
    sys.exit("gpu.sh: torch sees no CUDA device; run it on a GPU machine or set ORION_BENCH_DEVICE=cpu")
print(f"torch {torch.__version__}, device {sys.argv[1]}"
      + (f" ({torch.cuda.get_device_name()})" if sys.argv[1].startswith("cuda") else ""))
EOF

MODELS=()
for spec in $SIZES; do
    family="${spec%%:*}"; size="${spec##*:}"
    dir="$WORK/random-$family-$size"
    timeout 90 "$PYTHON" benchmarks/make_random_checkpoint.py --family "$family" --size "$size" --out "$dir" 2>&1 \
        | grep -v "Writing model shards" || true
    [[ -f "$dir/config.json" ]] || { echo "gpu.sh: building $dir failed" >&2; exit 1; }
    MODELS+=("$family=$dir")
done
LEFT=$((LIMIT - (SECONDS - START)))
BUDGET=$((LEFT > 100 ? LEFT - 70 : 30))  # no new configuration after this; the last one needs < 70 s
echo "checkpoints ready after $((SECONDS - START)) s; benchmark budget ${BUDGET} s"

timeout "$LEFT" "$PYTHON" benchmarks/embed_matrix.py --device "$DEVICE" --precision bf16,fp32 \
    --batch-size "$BATCH" --frame-batch-size "$FRAME_BATCH" --items "$ITEMS" --boxes-per-frame 2,8,32 \
    --frame-size "$FRAME_SIZE" --budget-s "$BUDGET" --json "$RESULTS" "${MODELS[@]}"

echo "total $((SECONDS - START)) s; rows in $RESULTS"
