"""DINOv2 plugin tests: never touch the network; tiny random-weight checkpoints in the layouts users download."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=56, patch_size=14)
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def write_processor(folder: Path, mean=IMAGENET[0], std=IMAGENET[1], crop: int = 56) -> None:
    """preprocessor_config.json as facebook/dinov2-* ship it (BitImageProcessor), sizes shrunk."""
    processor = {
        "image_processor_type": "BitImageProcessor",
        "crop_size": {"height": crop, "width": crop},
        "size": {"shortest_edge": crop + 8},
        "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": list(mean), "image_std": list(std), "resample": 3, "rescale_factor": 1 / 255,
    }  # fmt: skip
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))


def save_hf(folder: Path, registers: int = 0) -> Path:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if registers:
        model = tf.Dinov2WithRegistersModel(tf.Dinov2WithRegistersConfig(**TINY, num_register_tokens=registers))
    else:
        model = tf.Dinov2Model(tf.Dinov2Config(**TINY))
    model.save_pretrained(folder)
    write_processor(folder)
    return folder


@pytest.fixture(scope="session")
def dinov2_dir(tmp_path_factory) -> Path:
    """A tiny DINOv2 folder in Hugging Face layout (config.json, model.safetensors, preprocessor_config.json)."""
    return save_hf(tmp_path_factory.mktemp("dinov2") / "tiny-dinov2")


@pytest.fixture(scope="session")
def dinov2_reg_dir(tmp_path_factory) -> Path:
    """The same with 4 register tokens (model_type dinov2_with_registers)."""
    return save_hf(tmp_path_factory.mktemp("dinov2reg") / "tiny-dinov2-reg", registers=4)
