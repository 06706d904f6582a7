"""Device and precision resolution, done once in the core so every backend agrees."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")


def resolve_device(device: str) -> str:
    """`auto` -> cuda, then mps, then cpu. An explicit device that is absent is an error."""
    from .errors import ConfigError

    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    try:
        import torch
    except ImportError:  # histogram needs no torch
        if device in ("auto", "cpu"):
            return "cpu"
        raise ConfigError(f"device {device!r} needs PyTorch; install torch or use --device cpu") from None
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if device.startswith("cuda") and not cuda:
        raise ConfigError("device 'cuda' requested but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if device == "mps" and not mps:
        raise ConfigError("device 'mps' requested but it is not available; use --device cpu or auto")
    return device


def resolve_precision(precision: str, device: str) -> str:
    """`auto` -> bf16 on CUDA (fast, no overflow), fp32 elsewhere (CPU half is slow)."""
    from .errors import ConfigError

    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    return precision


def torch_dtype(precision: str):
    """The torch dtype for a resolved precision name."""
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
