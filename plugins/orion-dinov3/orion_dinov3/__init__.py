"""Orion backend `dinov3`: DINOv3 ViTs (Siméoni et al. 2025), 16-px patches, 4 register tokens, RoPE.

Crop embedding = the CLS token after the final norm; feature maps = the patch tokens (CLS and
registers dropped). RoPE positions make any frame size valid, so frames keep their full extent.
The weights are gated (DINOv3 License): users accept it on the hub, or download the files
themselves and pass the folder or Meta's original `.pth` (loaded through timm, keeping its file
name: the name says architecture and training data, and so which mean/std to use).

Feature maps default to a 512-px short side (32 patches, the same grid density as the dinov2
backend at 448): DINOv3's dense features stay sharp at high resolution, and 32 rows of cells
keep a distant pedestrian's box several cells tall.
"""

from __future__ import annotations

import re

from orion_core.errors import WeightsError
from orion_core.hf import ViTBackend, ViTFamily

# Meta's architecture names -> timm's (same networks; timm converts Meta's key names on load).
TIMM_ARCHS = {
    "vits16": "vit_small_patch16_dinov3",
    "vits16plus": "vit_small_plus_patch16_dinov3",
    "vitb16": "vit_base_patch16_dinov3",
    "vitl16": "vit_large_patch16_dinov3",
    "vith16plus": "vit_huge_plus_patch16_dinov3",
    "vit7b16": "vit_7b_patch16_dinov3",
}
WIDTHS = {"vits16": 384, "vits16plus": 384, "vitb16": 768, "vitl16": 1024, "vith16plus": 1280, "vit7b16": 4096}
HUB_DIMS = {f"facebook/dinov3-{arch}-pretrain-lvd1689m": width for arch, width in WIDTHS.items()}
HUB_DIMS.update({f"facebook/dinov3-{arch}-pretrain-sat493m": WIDTHS[arch] for arch in ("vitl16", "vit7b16")})
META_FILE = re.compile(r"^dinov3_(?P<arch>[a-z0-9_]+?)_pretrain_(?P<data>[a-z0-9]+)(?:-[0-9a-f]+)?\.(?:pth|pt|safetensors)$")
# ViT-S/16 (distilled from the 7B teacher): the same size as the dinov2 default, so the two presets
# compare like for like, and a third of ViT-B/16's cost per frame (CPU forward of a 512x688 frame,
# 2 AMD EPYC cores: 0.5 s vs 1.7 s); pass --model facebook/dinov3-vitb16-pretrain-lvd1689m for
# stronger features where a GPU makes that cost irrelevant.
DEFAULT_MODEL = "facebook/dinov3-vits16-pretrain-lvd1689m"
LICENCE = (
    "DINOv3 License (Meta, not OSI): the hub repos are gated; accept the licence on the model page and run "
    "`hf auth login`, or download the files yourself and pass them as weights_dir (--weights DIR)"
)


def timm_name(file_name: str) -> str | None:
    """Meta's `dinov3_vitl16_pretrain_sat493m-<hash>.pth` -> timm `vit_large_patch16_dinov3.sat493m`.

    The data tag picks timm's pretrained config, hence the mean/std (SAT-493M has its own).
    """
    match = META_FILE.match(file_name)
    if match is None:
        return None
    arch = match["arch"]
    if arch.startswith("convnext"):
        raise WeightsError(f"{file_name} is a DINOv3 ConvNeXt, which has no CLS and register tokens; use a DINOv3 ViT checkpoint (dinov3_vit*)")
    if arch not in TIMM_ARCHS:
        raise WeightsError(f"{file_name}: unknown DINOv3 architecture {arch!r}; known: {', '.join(TIMM_ARCHS)}")
    return f"{TIMM_ARCHS[arch]}.{match['data']}"


FAMILY = ViTFamily(
    backend="dinov3",
    label="DINOv3 ViT",
    default_model=DEFAULT_MODEL,
    model_types=("dinov3_vit",),
    hub_dims=HUB_DIMS,
    timm_marker="dinov3",
    file_to_timm=timm_name,
    file_example="dinov3_vits16_pretrain_lvd1689m-08c60483.pth",
    short_side=512,
)


INFO = {
    "description": "DINOv3 ViT (self-supervised, LVD-1689M or SAT-493M): CLS token per crop, 16-px patch features per frame",
    "default_model": DEFAULT_MODEL,
    "models": sorted(HUB_DIMS),
    "licence": LICENCE,
    "gated": True,
    # Cosine similarity of L2-normalised CLS embeddings: a starting point, not a measured optimum;
    # tune it per scene with `orion eval`.
    "reid_threshold": 0.65,
    "options": {"short_side": FAMILY.short_side, "crop_size": "from preprocessor_config.json", "timm_model": None, "timm_kwargs": {}},
}

plugin = ViTBackend(FAMILY, INFO)
