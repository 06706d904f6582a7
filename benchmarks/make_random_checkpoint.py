"""Build a random-weight checkpoint with the real architecture, for offline throughput benchmarks.

    python benchmarks/make_random_checkpoint.py --family dinov2 --size base --out models/rand-dinov2-base
    orion bench embed --backend dinov2 --weights models/rand-dinov2-base

A random network costs exactly what the trained one costs (same layers, widths, token counts), so
`orion bench embed` measures realistic speed on a machine that cannot download weights. The
embeddings are meaningless: never track with these folders (config.json says
`"orion_random_weights": true`).

Architectures are the published Hugging Face configs (transformers field names):

| family | size  | hidden | layers | heads | MLP    | patch | other                          |
|--------|-------|--------|--------|-------|--------|-------|--------------------------------|
| dinov2 | small | 384    | 12     | 6     | 4x     | 14    | image_size 518, eps 1e-6       |
| dinov2 | base  | 768    | 12     | 12    | 4x     | 14    |                                |
| dinov2 | large | 1024   | 24     | 16    | 4x     | 14    |                                |
| dinov3 | small | 384    | 12     | 6     | 1536   | 16    | 4 registers, RoPE theta 100, eps 1e-5, no key bias |
| dinov3 | base  | 768    | 12     | 12    | 3072   | 16    | (vitb16)                       |
| dinov3 | large | 1024   | 24     | 16    | 4096   | 16    | (vitl16)                       |
| vjepa2 | large | 1024   | 24     | 16    | 4x     | 16    | crop 256, tubelet 2, 64 frames (vitl-fpc64-256) |
| vjepa2 | huge  | 1280   | 32     | 16    | 4x     | 16    | (vith-fpc64-256)               |
| vjepa2 | giant | 1408   | 40     | 22    | 48/11x | 16    | (vitg-fpc64-256)               |

`--size tiny` (every family) is a 2-layer model for CI. V-JEPA 2 has no small or base encoder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

DINOV2 = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2),
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16),
}
DINOV3 = {
    "tiny": dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2),
    "small": dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=12, num_attention_heads=6),
    "base": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
    "large": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16),
}
VJEPA2 = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, crop_size=32,
                 pred_hidden_size=16, pred_num_hidden_layers=1, pred_num_attention_heads=2),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16),
    "huge": dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16),
    "giant": dict(hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11),
}
SIZES = {"dinov2": DINOV2, "dinov3": DINOV3, "vjepa2": VJEPA2}


def build_model(family: str, size: str):
    """A randomly initialised transformers model of `family`/`size` (seeded, so reproducible)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    fields = SIZES[family][size]
    if family == "dinov2":
        config = tf.Dinov2Config(patch_size=14, image_size=518, mlp_ratio=4, layer_norm_eps=1e-6,
                                 layerscale_value=1.0, qkv_bias=True, **fields)
        return tf.Dinov2Model(config)
    if family == "dinov3":
        config = tf.DINOv3ViTConfig(patch_size=16, image_size=224, num_register_tokens=4, rope_theta=100.0,
                                    layer_norm_eps=1e-5, layerscale_value=1.0, query_bias=True, key_bias=False,
                                    value_bias=True, proj_bias=True, mlp_bias=True, use_gated_mlp=False, **fields)
        return tf.DINOv3ViTModel(config)
    config = tf.VJEPA2Config(patch_size=16, tubelet_size=2, frames_per_clip=64,
                             **({"crop_size": 256} | fields))
    return tf.VJEPA2Model(config)


def processor_config(family: str, size: str) -> dict | None:
    """preprocessor_config.json as the published checkpoints have it (V-JEPA 2 writes its own)."""
    common = {"do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
              "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, "do_convert_rgb": True}
    if family == "dinov2":
        crop = 56 if size == "tiny" else 224
        return {"image_processor_type": "BitImageProcessor", "do_resize": True, "size": {"shortest_edge": crop * 8 // 7},
                "resample": 3, "do_center_crop": True, "crop_size": {"height": crop, "width": crop}, **common}
    if family == "dinov3":
        side = 64 if size == "tiny" else 224
        return {"image_processor_type": "DINOv3ViTImageProcessorFast", "do_resize": True,
                "size": {"height": side, "width": side}, "resample": 2, **common}
    return None


def make_checkpoint(family: str, size: str, out: Path, force: bool = False) -> Path:
    """Write config.json, model.safetensors and the processor config into `out` (atomically)."""
    if family not in SIZES:
        raise SystemExit(f"error: unknown family {family!r}; choose one of {', '.join(SIZES)}")
    if size not in SIZES[family]:
        raise SystemExit(f"error: {family} has no size {size!r}; choose one of {', '.join(SIZES[family])}")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        if (out / "config.json").is_file():
            print(f"{out} already holds a checkpoint; keeping it (--force rebuilds)")
            return out
        raise SystemExit(f"error: {out} exists and is not empty; pass an empty or new folder, or --force")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    started = time.perf_counter()
    model = build_model(family, size)
    model.config.orion_random_weights = True  # so nobody mistakes the folder for trained weights
    model.save_pretrained(staging)
    processor = processor_config(family, size)
    if processor is not None:
        (staging / "preprocessor_config.json").write_text(json.dumps(processor, indent=2) + "\n", encoding="utf-8")
    else:
        from transformers import VJEPA2VideoProcessor

        VJEPA2VideoProcessor(crop_size=model.config.crop_size, image_mean=IMAGENET_MEAN,
                             image_std=IMAGENET_STD).save_pretrained(staging)
    params = sum(p.numel() for p in model.parameters())
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    print(f"{out}: random {family}-{size}, {params / 1e6:.1f}M parameters, {time.perf_counter() - started:.1f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", required=True, choices=sorted(SIZES))
    parser.add_argument("--size", required=True, help="tiny, small, base, large (vjepa2: tiny, large, huge, giant)")
    parser.add_argument("--out", required=True, type=Path, help="Folder to create")
    parser.add_argument("--force", action="store_true", help="Rebuild even if --out holds a checkpoint")
    args = parser.parse_args(argv)
    make_checkpoint(args.family, args.size, args.out, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
