"""`vjepa2`: Meta's V-JEPA 2 video encoder as an Orion backend.

Embedding = mean of the encoder's output tokens (V-JEPA 2 has no CLS token), dim = hidden size.
A single crop is a clip of `clip_frames` copies of itself (default 2 = exactly one tubelet: the
original code repeated it 16 times, 8x the compute for the same picture); `encode_clips` feeds
a tracklet's last `clip_frames` crops, so a still clip and a crop land in the same space.

RoPE gotcha: the model derives token positions from `config.crop_size` (grid = crop_size //
patch_size), not from the input. Any other input size, or a non-square one, silently gets wrong
positions. So every input is resized to exactly crop_size x crop_size, and `encode_pixels`
refuses anything else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from orion_core import hookimpl
from orion_core.errors import ConfigError, WeightsError
from orion_core.hf import (
    check_model_type,
    checkpoint_location,
    config_width,
    hub_config,
    hub_snapshot,
    load_transformers_model,
    one_line,
    read_folder_config,
)
from orion_core.vision import Preprocess, preprocess_from_processor, read_json, resize_normalize, to_device

log = logging.getLogger(__name__)

BACKEND = "vjepa2"
LABEL = "V-JEPA 2"
MODEL_TYPES = ("vjepa2",)
DEFAULT_MODEL = "facebook/vjepa2-vitl-fpc64-256"
HUB_DIMS = {  # hidden sizes of the published encoders, so `embedding_dim` needs no download
    "facebook/vjepa2-vitl-fpc64-256": 1024,
    "facebook/vjepa2-vith-fpc64-256": 1280,
    "facebook/vjepa2-vitg-fpc64-256": 1408,
    "facebook/vjepa2-vitg-fpc64-384": 1408,
}
# Where a checkpoint keeps its processor settings, newest layout first (transformers 5 nests them).
PROCESSOR_FILES = ("processor_config.json", "video_preprocessor_config.json", "preprocessor_config.json")


@dataclass
class VJEPA2Embedder:
    """The encoder plus the exact input geometry it was built for."""

    model: Any  # transformers VJEPA2Model
    prep: Preprocess
    crop_size: int
    tubelet: int
    clip_frames: int
    device: str
    precision: str
    source: str

    def prepare(self, images: Sequence[np.ndarray]) -> Any:
        """Crops -> still clips of `clip_frames` frames (a view: the repeated frames are not copied)."""
        still = frames_to_pixels(self, images, len(images), 1)
        return still.expand(-1, self.clip_frames, -1, -1, -1)

    def forward(self, pixels: Any) -> Any:
        """Split from `prepare` so `orion bench embed` can time the model alone."""
        return encode_pixels(self, pixels)


# -- where the weights come from -------------------------------------------------------------
def checked_config(folder: Path) -> dict:
    """config.json of a local folder, which must be a V-JEPA 2 one (else: which backend runs it)."""
    model_config = read_folder_config(folder)
    check_model_type(model_config, folder, MODEL_TYPES, LABEL, BACKEND, DEFAULT_MODEL)
    return model_config


def config_int(model_config: dict, key: str, folder: Path) -> int:
    value = model_config.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WeightsError(f"{folder}/config.json: {key} must be a positive integer, got {value!r}; download the folder again")
    return value


def read_processor_config(folder: Path) -> dict:
    """The checkpoint's own resize/normalise settings ({} when it ships none)."""
    for name in PROCESSOR_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = read_json(path)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WeightsError(f"{path} is not valid JSON ({one_line(exc)}); download the folder again") from None
        if name == "processor_config.json":
            data = data.get("video_processor") or {}
        if data:
            return data
    log.warning("%s has no processor config; using ImageNet mean/std", folder)
    return {}


def preprocess_for(processor: dict, crop_size: int, source: str) -> Preprocess:
    """Mean/std from the processor config; the size is always the model's crop_size (RoPE)."""
    prep = preprocess_from_processor(processor, default_size=(crop_size, crop_size))
    if prep.size != (crop_size, crop_size):
        log.warning(
            "%s: processor crop %s differs from the model's crop_size %d; using %d because RoPE positions follow crop_size",
            source, prep.size, crop_size, crop_size,
        )  # fmt: skip
    return Preprocess(size=(crop_size, crop_size), mean=prep.mean, std=prep.std, rescale=prep.rescale)


def checked_clip_frames(clip_frames: int, tubelet: int) -> int:
    """1 (the model repeats it to a tubelet itself) or whole tubelets: the 3-D patch conv silently drops a remainder."""
    if clip_frames != 1 and clip_frames % tubelet:
        raise ConfigError(
            f"embedding.clip_frames is {clip_frames} but this V-JEPA 2 model reads frames in tubelets of {tubelet}; "
            f"use 1 or a multiple of {tubelet} (e.g. {tubelet})"
        )
    return clip_frames


# -- forward ------------------------------------------------------------------------------------
def encode_pixels(embedder: VJEPA2Embedder, pixels) -> Any:
    """(B, T, 3, S, S) normalised clips -> (B, D) mean of encoder tokens; S must be crop_size (RoPE)."""
    import torch

    size = embedder.crop_size
    if pixels.ndim != 5 or tuple(pixels.shape[-3:]) != (3, size, size):
        raise ValueError(
            f"V-JEPA 2 input must be (B, T, 3, {size}, {size}), got {tuple(pixels.shape)}: RoPE positions follow "
            f"crop_size={size}, so any other size would be silently mis-positioned"
        )
    with torch.inference_mode():
        out = embedder.model(pixel_values_videos=pixels, skip_predictor=True)
    return out.last_hidden_state.float().mean(dim=1)


def frames_to_pixels(embedder: VJEPA2Embedder, frames: Sequence[np.ndarray], batch: int, length: int):
    """`batch * length` RGB frames (clip-major) -> (batch, length, 3, S, S) on the model's device."""
    size = (embedder.crop_size, embedder.crop_size)
    flat = resize_normalize(frames, size, embedder.prep)
    return to_device(flat, embedder.device, embedder.precision).reshape(batch, length, 3, *size)


def last_frames(clip: np.ndarray, count: int) -> list[np.ndarray]:
    """The clip's last `count` frames; a shorter clip is front-padded with its first frame (time order kept)."""
    frames = list(clip[-count:])
    return [frames[0]] * (count - len(frames)) + frames


# -- hooks ----------------------------------------------------------------------------------------
@hookimpl
def embedding_dim(config):
    path, hub_id = checkpoint_location(config, DEFAULT_MODEL, BACKEND)
    if path is None:
        if hub_id in HUB_DIMS:
            return HUB_DIMS[hub_id]
        model_config = hub_config(hub_id, BACKEND)  # config.json only, never weights
        check_model_type(model_config, Path(hub_id), MODEL_TYPES, LABEL, BACKEND, DEFAULT_MODEL)
        return config_width(model_config, Path(hub_id))
    return config_width(checked_config(path), path)


@hookimpl
def load_embedder(config):
    path, hub_id = checkpoint_location(config, DEFAULT_MODEL, BACKEND)
    folder = path if path is not None else hub_snapshot(hub_id, BACKEND)
    model_config = checked_config(folder)
    crop_size, tubelet = config_int(model_config, "crop_size", folder), config_int(model_config, "tubelet_size", folder)
    clip_frames = checked_clip_frames(config.clip_frames, tubelet)
    prep = preprocess_for(read_processor_config(folder), crop_size, str(folder))
    model = load_transformers_model(folder, BACKEND, config.device, config.precision)  # verifies the folder first
    return VJEPA2Embedder(
        model=model, prep=prep, crop_size=crop_size, tubelet=tubelet, clip_frames=clip_frames,
        device=config.device, precision=config.precision, source=hub_id or str(folder),
    )  # fmt: skip


@hookimpl
def encode_batch(embedder, images):
    """Each crop becomes a still clip of `clip_frames` frames (default: one tubelet)."""
    if not images:
        return np.zeros((0, embedder.model.config.hidden_size), dtype=np.float32)
    return embedder.forward(embedder.prepare(images)).cpu().numpy()


@hookimpl
def encode_clips(embedder, clips):
    """A tracklet's last `clip_frames` crops as one clip (video-native: motion is part of the embedding)."""
    if not clips:
        return np.zeros((0, embedder.model.config.hidden_size), dtype=np.float32)
    length = embedder.clip_frames
    frames = [frame for clip in clips for frame in last_frames(np.asarray(clip), length)]
    return encode_pixels(embedder, frames_to_pixels(embedder, frames, len(clips), length)).cpu().numpy()


@hookimpl
def backend_info():
    return {
        "description": "V-JEPA 2 video encoder (Meta): mean of encoder tokens; crops as one-tubelet clips, tracklets as clips",
        "default_model": DEFAULT_MODEL,
        "models": sorted(HUB_DIMS),
        "licence": "Apache-2.0 weights per the Hugging Face model cards (code MIT); not gated",
        # Not yet measured on real data with real weights: the core's default, to be tuned.
        "reid_threshold": 0.75,
    }
