"""DINOv3 plugin tests: never touch the network; tiny random-weight checkpoints in the layouts users download."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16)
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
SAT493M = ([0.430, 0.411, 0.296], [0.213, 0.156, 0.143])  # what facebook/dinov3-*-sat493m ship


def write_processor(folder: Path, mean=IMAGENET[0], std=IMAGENET[1], size: int = 64) -> None:
    """preprocessor_config.json as facebook/dinov3-* ship it (DINOv3ViTImageProcessorFast), size shrunk."""
    processor = {
        "image_processor_type": "DINOv3ViTImageProcessorFast",
        "size": {"height": size, "width": size},
        "do_resize": True, "do_rescale": True, "do_normalize": True, "resample": 2,
        "image_mean": list(mean), "image_std": list(std), "rescale_factor": 1 / 255,
    }  # fmt: skip
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))


def save_hf(folder: Path, mean_std=IMAGENET) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    model = tf.DINOv3ViTModel(tf.DINOv3ViTConfig(**TINY, num_register_tokens=4))
    model.save_pretrained(folder)
    write_processor(folder, *mean_std)
    return folder


@pytest.fixture(scope="session")
def dinov3_dir(tmp_path_factory) -> Path:
    """A tiny DINOv3 folder in Hugging Face layout (config.json, model.safetensors, preprocessor_config.json)."""
    return save_hf(tmp_path_factory.mktemp("dinov3") / "tiny-dinov3")


@pytest.fixture(scope="session")
def dinov3_sat_dir(tmp_path_factory) -> Path:
    """The same weights with the SAT-493M processor config (its own mean/std)."""
    return save_hf(tmp_path_factory.mktemp("dinov3sat") / "tiny-dinov3-sat", mean_std=SAT493M)
