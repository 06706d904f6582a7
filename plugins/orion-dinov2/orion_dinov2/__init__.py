"""Orion backend `dinov2`: DINOv2 ViTs (Oquab et al. 2023), with or without registers.

Crop embedding = the CLS token after the final norm; feature maps = the patch tokens (CLS and
register tokens dropped) on a 14-px grid spanning the whole frame. Weights come from a local
Hugging Face folder, a hub id (`facebook/dinov2-small`, ...), a timm hub folder, or Meta's original
`dinov2_vit*14*_pretrain.pth` file (loaded through timm). Loading is shared with other ViT
backends in `orion_core.hf`; this module only describes DINOv2.

Feature maps default to a 448-px short side (`embedding.options.short_side`): 32 patches, where
DINOv2's features hold up because it ends training at 518 px, and a cell is 18 px of a 576-px-high
frame, fine enough to pool a distant pedestrian's box; a 4:3 frame is then 32x43 = 1376 tokens
(a 224-px crop is 256).
"""

from __future__ import annotations

import re

from orion_core.hf import ViTBackend, ViTFamily

SIZES = {"s": "small", "b": "base", "l": "large", "g": "giant"}
WIDTHS = {"small": 384, "base": 768, "large": 1024, "giant": 1536}
HUB_DIMS = {
    f"facebook/dinov2-{prefix}{size}": width
    for size, width in WIDTHS.items()
    for prefix in ("", "with-registers-")
}
META_FILE = re.compile(r"^dinov2_vit(?P<size>[sblg])14(?P<reg>_reg4)?_pretrain\.(?:pth|pt)$")


def timm_name(file_name: str) -> str | None:
    """Meta's `dinov2_vits14_reg4_pretrain.pth` -> timm `vit_small_patch14_reg4_dinov2.lvd142m`."""
    match = META_FILE.match(file_name)
    if match is None:
        return None
    return f"vit_{SIZES[match['size']]}_patch14{match['reg'] or ''}_dinov2.lvd142m"


FAMILY = ViTFamily(
    backend="dinov2",
    label="DINOv2",
    default_model="facebook/dinov2-small",
    model_types=("dinov2", "dinov2_with_registers"),
    hub_dims=HUB_DIMS,
    timm_marker="dinov2",
    file_to_timm=timm_name,
    file_example="dinov2_vits14_pretrain.pth",
    short_side=448,  # see the module docstring
    # timm fixes the input size to the checkpoint's 518 px unless told the size may change per call.
    timm_kwargs={"dynamic_img_size": True},
)


INFO = {
    "description": "DINOv2 ViT (self-supervised, LVD-142M): CLS token per crop, 14-px patch features per frame",
    "default_model": FAMILY.default_model,
    "models": sorted(HUB_DIMS),
    "licence": "Apache-2.0 (DINOv2 code and weights); not gated, downloads from the Hugging Face Hub on first use",
    "gated": False,
    # Cosine similarity of L2-normalised CLS embeddings: a starting point, not a measured optimum;
    # tune it per scene with `orion eval`.
    "reid_threshold": 0.65,
    "options": {"short_side": FAMILY.short_side, "crop_size": "from preprocessor_config.json", "timm_model": None, "timm_kwargs": {}},
}

plugin = ViTBackend(FAMILY, INFO)
