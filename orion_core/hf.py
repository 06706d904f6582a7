"""Loading Hugging Face-format vision transformers for backend plugins (DINOv2, DINOv3, ...).

Every ViT backend needs the same steps: find the weights (a local folder or file the user
downloaded, else a hub id), tell what they are before loading them, load them once on the
resolved device and dtype, and turn pixels into a CLS row per crop or a patch-token map per
frame. A mistake anywhere must end as ONE line saying what is wrong and what to do.

Two choices shape this module:
- A hub id is first turned into a local snapshot folder (`hub_snapshot`), so a downloaded model
  and a folder the user fetched by hand go through exactly the same checks and loader.
- Folders are checked by `orion_core.weights` (the code behind `orion weights verify`) before
  `transformers` sees them, so a truncated file or a config from another checkpoint is reported
  as such instead of as a deep stack trace or, worse, a silently random-initialised layer.

Heavy libraries (torch, transformers, timm, huggingface_hub) are imported inside functions:
plugins import this module when `orion plugins` lists them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .errors import ConfigError, OrionError, WeightsError
from .hookspecs import hookimpl
from .vision import Preprocess, patch_grid_size, preprocess_from_processor, read_json, resize_normalize, to_device

log = logging.getLogger(__name__)

CONFIG = "config.json"
PROCESSOR = "preprocessor_config.json"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")
# Weights to fetch for a hub id: safetensors first (no pickle, memory-mapped); .bin only if a repo has nothing else.
HUB_PATTERNS = (["*.json", "*.safetensors"], ["*.json", "pytorch_model*.bin"])
# ViT widths by the size word in a timm architecture name (vit_<size>_patch..): dims without building a model.
TIMM_WIDTHS = {"tiny": 192, "small": 384, "small_plus": 384, "base": 768, "large": 1024, "huge_plus": 1280, "giant": 1536, "7b": 4096}
TIMM_SIZE = re.compile(r"^vit_(tiny|small_plus|small|base|large|huge_plus|giant|7b)_patch")
# pretrained_cfg keys that would make timm fetch weights from elsewhere than the file we hand it.
TIMM_SOURCE_KEYS = ("source", "url", "hf_hub_id", "hf_hub_filename", "state_dict", "file")

# (B, 3, H, W) pixels -> (cls (B, D), patch tokens (B, h*w, D)), both after the final norm.
Forward = Callable[[Any], tuple[Any, Any]]


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's text squeezed onto one line, for messages that must stay one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- backend options (embedding.options) -----------------------------------------------------------
def int_option(config: Any, key: str, default: int) -> int:
    """A positive int from `config.options[key]`, or `default`; anything else names the key."""
    value = (config.options or {}).get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"embedding.options.{key} must be a positive integer, got {value!r}")
    return value


def str_option(config: Any, key: str) -> str | None:
    value = (config.options or {}).get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"embedding.options.{key} must be a non-empty string, got {value!r}")
    return value


def dict_option(config: Any, key: str) -> dict:
    value = (config.options or {}).get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"embedding.options.{key} must be a mapping, got {type(value).__name__} {value!r}")
    return dict(value)


# -- the Hugging Face Hub --------------------------------------------------------------------------
def hub_error(exc: BaseException, hub_id: str, backend: str) -> WeightsError:
    """One actionable line for a failed hub look-up: gated, not found, offline, or no connection."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    fetch_yourself = f"download it yourself (hf download {hub_id} --local-dir DIR) and pass it as weights_dir (--weights DIR)"
    url = f"https://huggingface.co/{hub_id}"
    if isinstance(exc, GatedRepoError):
        return WeightsError(
            f"{hub_id} is gated on the Hugging Face Hub and this machine has no access: accept its licence at {url}, "
            f"then log in with `hf auth login` (or `huggingface-cli login`); or {fetch_yourself}"
        )
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError)):
        return WeightsError(
            f"{hub_id} was not found on the Hugging Face Hub (or it is private): check the model id given to backend "
            f"{backend!r}, log in with `hf auth login` if it is private, or pass a local folder as weights_dir (--weights DIR)"
        )
    if isinstance(exc, HFValidationError):
        return WeightsError(f"{hub_id!r} is neither an existing path nor a valid hub id (ORG/NAME); check model / weights_dir (--model / --weights)")
    offline = constants.HF_HUB_OFFLINE or isinstance(exc, OfflineModeIsEnabled) or isinstance(exc.__cause__, OfflineModeIsEnabled)
    if offline:
        return WeightsError(
            f"{hub_id} is not in the local Hugging Face cache and hub access is off (HF_HUB_OFFLINE=1): {fetch_yourself}"
        )
    if isinstance(exc, (LocalEntryNotFoundError, ConnectionError, TimeoutError)):
        return WeightsError(f"could not reach the Hugging Face Hub to fetch {hub_id} and it is not cached: check the network, or {fetch_yourself}")
    if isinstance(exc, HfHubHTTPError) and getattr(exc.response, "status_code", None) == 401:
        return WeightsError(f"the Hugging Face Hub refused {hub_id} (401): log in with `hf auth login`, or {fetch_yourself}")
    return WeightsError(f"could not fetch {hub_id} from the Hugging Face Hub ({type(exc).__name__}: {one_line(exc)}); {fetch_yourself}")


def hub_snapshot(hub_id: str, backend: str) -> Path:
    """The local snapshot folder of `hub_id` (downloaded once, then cached); errors become WeightsError."""
    import huggingface_hub

    try:
        folder = Path(huggingface_hub.snapshot_download(hub_id, allow_patterns=HUB_PATTERNS[0]))
        if not any(folder.glob("*.safetensors")) and not (folder / "model.safetensors.index.json").is_file():
            folder = Path(huggingface_hub.snapshot_download(hub_id, allow_patterns=HUB_PATTERNS[1]))
    except OrionError:
        raise
    except Exception as exc:
        raise hub_error(exc, hub_id, backend) from None
    return folder


def hub_config(hub_id: str, backend: str) -> dict:
    """config.json of a hub model (a few KB; served from the cache when offline), for dims of unlisted ids."""
    import huggingface_hub

    try:
        path = Path(huggingface_hub.hf_hub_download(hub_id, CONFIG))
    except Exception as exc:
        raise hub_error(exc, hub_id, backend) from None
    return read_folder_config(path.parent)


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
RANDOM_MARKER = "orion_random_weights"  # set by benchmarks/make_random_checkpoint.py


def hub_cached_config(hub_id: str) -> dict | None:
    """config.json of `hub_id` if the local Hugging Face cache has it (never touches the network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(hub_id, CONFIG)
    except Exception:  # an invalid repo id, or huggingface_hub missing: simply not cached
        return None
    if not isinstance(path, str):
        return None
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError, OSError):
        return None


def hub_cached(hub_id: str) -> bool:
    """Whether the cache holds `hub_id`'s config.json and weights, so loading it needs no network."""
    if hub_cached_config(hub_id) is None:
        return False
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(hub_id, name), str) for name in WEIGHT_FILES)


def random_weights(location: str | Path | None) -> bool:
    """True for a checkpoint made by benchmarks/make_random_checkpoint.py (config.json says so).

    Such a folder has the real architecture and passes every shape check, so nothing else would
    tell a user their identities come from random features.
    """
    if not location:
        return False
    path = Path(location).expanduser()
    folder = path.parent if path.is_file() else path
    try:
        config = read_json(folder / CONFIG) if (folder / CONFIG).is_file() else {}
    except (ValueError, UnicodeDecodeError, OSError):
        return False
    return isinstance(config, dict) and config.get(RANDOM_MARKER) is True


RANDOM_WARNING = (
    "{path} holds RANDOM weights (made by make_random_checkpoint.py, config.json orion_random_weights): "
    "fine for timing, meaningless for identities; download the real checkpoint for tracking"
)


def local_path(location: str | None) -> Path | None:
    """`location` as an existing local path, else None (then it is meant as a hub id)."""
    if not location:
        return None
    path = Path(location).expanduser()
    return path if path.exists() else None


def checkpoint_location(config: Any, default_model: str, backend: str) -> tuple[Path | None, str]:
    """(local path or None, hub id): `weights_dir` wins over `model`, which wins over the default.

    A weights_dir that does not exist is an error (never silently a hub id); a `model` that names an
    existing path is taken as local too, because users pass folders to --model as often as to --weights.
    """
    if config.weights_dir:
        path = Path(config.weights_dir).expanduser()
        try:
            path.stat()
        except FileNotFoundError:
            raise WeightsError(
                f"weights path {path} does not exist; pass the folder you downloaded (it holds {CONFIG}) "
                f"as weights_dir (--weights), or drop it to fetch {config.model or default_model} from the hub"
            ) from None
        except OSError as exc:
            raise WeightsError(f"weights path {path} cannot be accessed ({exc.strerror}); check its permissions") from None
        return path, ""
    hub_id = config.model or default_model
    return local_path(hub_id), hub_id


# -- reading a folder -------------------------------------------------------------------------------
def read_folder_config(folder: Path) -> dict:
    """config.json of a model folder; a missing folder/file or bad JSON is a one-line WeightsError."""
    from .weights import find_config_below, read_config

    if folder.is_file():
        if folder.name == CONFIG or folder.suffix == ".json":
            raise WeightsError(f"{folder} is a file; pass the folder that holds it: {folder.parent}")
        raise WeightsError(f"{folder} is a file, not a model folder; pass the folder that holds {CONFIG} and the weights")
    path = folder / CONFIG
    if not path.exists():  # a FIFO or folder of that name is refused by read_config (it would block a read)
        below = find_config_below(folder)
        hint = f"did you mean {below}?" if below else f"pass the folder that holds {CONFIG} and model.safetensors"
        raise WeightsError(f"{folder} has no {CONFIG}, so it is not a Hugging Face model folder; {hint}")
    return read_config(path)


def is_timm_folder(model_config: dict) -> bool:
    """timm's hub layout: config.json names an `architecture` instead of a transformers `model_type`."""
    return "model_type" not in model_config and isinstance(model_config.get("architecture"), str)


def check_model_type(model_config: dict, folder: Path, model_types: Sequence[str], label: str, backend: str, example: str) -> str:
    """The folder's model_type must be one this backend runs; otherwise say which backend does."""
    from .weights import FAMILIES

    model_type = model_config.get("model_type")
    if model_type in model_types:
        return model_type
    if model_type is None:
        raise WeightsError(f"{folder}/{CONFIG} has no model_type, so it is not a {label} checkpoint; download one (e.g. {example})")
    other = FAMILIES.get(model_type)
    if other is not None and other.backend != backend:
        raise WeightsError(
            f"{folder} holds a {model_type!r} model (config.json model_type), not {label}: "
            f"run it with backend {other.backend!r} (--backend {other.backend}), or pass a {label} folder"
        )
    raise WeightsError(f"{folder} holds a {model_type!r} model (config.json model_type), not {label}; download a {label} checkpoint (e.g. {example})")


def config_width(model_config: dict, folder: Path) -> int:
    """hidden_size of a transformers config (the CLS / patch-token width)."""
    width = model_config.get("hidden_size")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise WeightsError(f"{folder}/{CONFIG}: hidden_size must be a positive integer, got {width!r}; download the folder again")
    return width


def processor_preprocess(folder: Path, crop_size: int | None = None) -> Preprocess:
    """Resize/normalise settings from the folder's preprocessor_config.json (never assumed ImageNet when it says otherwise)."""
    path = folder / PROCESSOR
    try:
        processor = read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path} is not valid JSON ({one_line(exc)}); download the folder again") from None
    if not processor:
        log.warning("%s has no %s; using ImageNet mean/std at 224 px", folder, PROCESSOR)
    prep = preprocess_from_processor(processor)
    if crop_size:
        prep = Preprocess(size=(crop_size, crop_size), mean=prep.mean, std=prep.std, rescale=prep.rescale)
    return prep


# -- loading --------------------------------------------------------------------------------------
def load_transformers_model(folder: Path, backend: str, device: str, precision: str) -> Any:
    """A checked transformers model from a local folder, in eval mode on `device`/`precision`.

    `orion_core.weights.verify_checkpoint` runs first (layout, truncation, config-vs-tensor shapes);
    then any weight transformers could not place is an error, since it would be left random.
    """
    from transformers import AutoModel

    from .device import torch_dtype
    from .weights import verify_checkpoint

    verify_checkpoint(folder, backend=backend)
    try:  # `dtype=` (not the older `torch_dtype=`) needs transformers >= 4.56: the plugins' floor
        model, info = AutoModel.from_pretrained(
            str(folder), dtype=torch_dtype(precision), output_loading_info=True, trust_remote_code=False
        )
    except OrionError:
        raise
    except Exception as exc:
        raise WeightsError(f"transformers could not load {folder} ({type(exc).__name__}: {one_line(exc)}); download the folder again") from None
    missing = sorted(key for key in info.get("missing_keys", ()) if "mask_token" not in key)  # mask_token: pre-training only
    if missing:
        raise WeightsError(
            f"{folder}: {len(missing)} weight(s) of the model are not in the checkpoint (e.g. {missing[0]}), so they would "
            f"be random; config.json and the weights come from different checkpoints, download the folder again"
        )
    return model.to(device).eval()


def timm_width(architecture: str, overrides: Mapping[str, Any] | None = None) -> int | None:
    """Width of a timm ViT from its name (or an `embed_dim` override), without building it."""
    if overrides and isinstance(overrides.get("embed_dim"), int):
        return int(overrides["embed_dim"])
    match = TIMM_SIZE.match(architecture)
    return TIMM_WIDTHS[match.group(1)] if match else None


def prefer_qkv_bias_variant(name: str, keys: Sequence[str]) -> str:
    """timm registers some ViTs twice, with and without a QKV bias (`..._qkvb`); take the one the file has.

    Loading a checkpoint that has `attn.qkv.bias` into the bias-free variant silently drops the biases.
    """
    import timm

    arch, _, tag = name.partition(".")
    if arch.endswith("_qkvb") or not any(key.endswith("attn.qkv.bias") for key in keys):
        return name
    if not timm.is_model(arch + "_qkvb"):
        return name
    return arch + "_qkvb" + (f".{tag}" if tag else "")


def load_timm_model(
    name: str,
    weights: Path,
    device: str,
    precision: str,
    label: str,
    cfg_overlay: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """A timm model (`arch` or `arch.tag`, the tag picks mean/std) with weights from a local file.

    timm reads the file itself (`pretrained_cfg_overlay=dict(file=...)`: safetensors, else
    torch.load(weights_only=True)) and converts Meta's original key names; its strict load makes a
    checkpoint of another size an error instead of a half-random model.
    """
    import timm

    from .device import torch_dtype

    arch = name.partition(".")[0]
    if not timm.is_model(arch):
        raise WeightsError(f"timm {timm.__version__} has no model {arch!r} (needed for {weights.name}); upgrade timm or check embedding.options.timm_model")
    overlay = {k: v for k, v in dict(cfg_overlay or {}).items() if k not in TIMM_SOURCE_KEYS}
    overlay["file"] = str(weights)
    kwargs.setdefault("num_classes", 0)
    kwargs.setdefault("global_pool", "token")  # the CLS token, as the DINO papers evaluate (timm's Eva defaults to avg)
    try:
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    except OrionError:
        raise
    except Exception as exc:
        raise WeightsError(
            f"{weights.name} does not fit timm model {name} ({type(exc).__name__}: {one_line(exc)}); check it is a "
            f"{label} checkpoint of that size, or set embedding.options.timm_model"
        ) from None
    return model.to(device=device, dtype=torch_dtype(precision)).eval()


# -- forward passes ---------------------------------------------------------------------------------
def transformers_forward(model: Any, prefix_tokens: int) -> Forward:
    """CLS = pooler_output (CLS after the final norm); patches = tokens after CLS and registers."""

    def forward(pixels: Any) -> tuple[Any, Any]:
        out = model(pixel_values=pixels)
        return out.pooler_output, out.last_hidden_state[:, prefix_tokens:]

    return forward


def timm_forward(model: Any) -> Forward:
    """timm: forward_features is normed tokens [CLS, registers, patches]; forward_head(pre_logits) pools CLS."""
    prefix = int(model.num_prefix_tokens)

    def forward(pixels: Any) -> tuple[Any, Any]:
        tokens = model.forward_features(pixels)
        return model.forward_head(tokens, pre_logits=True), tokens[:, prefix:]

    return forward


@dataclass
class ViTEmbedder:
    """A loaded ViT behind one interface: a CLS row per crop, a patch-token map per whole frame.

    Crops are resized to the checkpoint's own input size; frames keep their aspect and full extent,
    resized to whole patches with `short_side` on the shorter side, so the token grid spans the
    frame exactly and region pooling can map boxes onto it.
    """

    forward: Forward
    dim: int
    patch_size: int
    preprocess: Preprocess
    short_side: int
    device: str
    precision: str
    source: str = ""
    model: Any = field(default=None, repr=False)

    def prepare(self, images: Sequence[np.ndarray]) -> Any:
        """RGB crops -> normalised pixels at the checkpoint's input size, on the device (benchmarks time `forward` alone)."""
        return to_device(resize_normalize(images, self.preprocess.size, self.preprocess), self.device, self.precision)

    def prepare_frames(self, frames: Sequence[np.ndarray]) -> Any:
        """Same-size RGB frames -> pixels resized to whole patches, full extent kept."""
        shapes = {frame.shape for frame in frames}
        if len(shapes) != 1:
            raise ValueError(f"encode_frames needs frames of one size, got {sorted(shapes)}")
        size = patch_grid_size(frames[0].shape[:2], self.patch_size, self.short_side)
        return to_device(resize_normalize(frames, size, self.preprocess), self.device, self.precision)

    def _infer(self, pixels: Any) -> tuple[Any, Any]:
        import torch

        with torch.inference_mode():
            return self.forward(pixels)

    def encode_crops(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32 CLS embeddings of RGB uint8 crops."""
        if not len(images):
            return np.zeros((0, self.dim), dtype=np.float32)
        cls, _ = self._infer(self.prepare(images))
        return cls.float().cpu().numpy()

    def encode_frames(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(B, D, h, w) float32 patch features of same-size RGB uint8 frames (registers and CLS excluded)."""
        pixels = self.prepare_frames(frames)
        grid_h, grid_w = pixels.shape[-2] // self.patch_size, pixels.shape[-1] // self.patch_size
        _, patches = self._infer(pixels)
        if patches.shape[1] != grid_h * grid_w:
            raise RuntimeError(f"model returned {patches.shape[1]} patch tokens for a {grid_h}x{grid_w} grid")
        maps = patches.reshape(len(frames), grid_h, grid_w, patches.shape[-1]).permute(0, 3, 1, 2)
        return maps.float().cpu().numpy()


# -- one description per model family ---------------------------------------------------------------
@dataclass(frozen=True)
class ViTFamily:
    """Everything that differs between ViT families; the loading logic below is shared."""

    backend: str  # the Orion backend name
    label: str  # what messages call it
    default_model: str  # hub id used when neither --weights nor --model is given
    model_types: tuple[str, ...]  # transformers config.json model_type values this backend runs
    hub_dims: Mapping[str, int]  # known hub ids -> width, so embedding_dim needs no network
    timm_marker: str  # a timm architecture of this family has this in its name
    file_to_timm: Callable[[str], str | None]  # Meta checkpoint file name -> "timm_arch.tag" (None: not one)
    file_example: str  # a file name `file_to_timm` understands, for error messages
    short_side: int  # default short side (px) of frames for feature maps
    crop_size: int = 224  # crop input size when no processor config says otherwise (timm files)
    timm_kwargs: Mapping[str, Any] = field(default_factory=dict)  # always passed to timm.create_model


def timm_name_for_file(family: ViTFamily, config: Any, path: Path) -> str:
    """Which timm architecture a single checkpoint file holds: options.timm_model, else its file name."""
    if path.suffix == ".json":
        raise WeightsError(f"{path} is a file; pass the folder that holds it: {path.parent}")
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise WeightsError(
            f"{path} is a file, not a model folder or checkpoint; pass the folder that holds {CONFIG} "
            f"(or a {family.label} checkpoint file such as {family.file_example})"
        )
    explicit = str_option(config, "timm_model")
    if explicit:
        return explicit
    name = family.file_to_timm(path.name)
    if name:
        return name
    stem = path.name.split(".")[0]
    if family.timm_marker in stem and TIMM_SIZE.match(stem):
        tag = path.name.split(".")[1] if path.name.count(".") >= 2 else ""
        return stem + (f".{tag}" if tag else "")
    raise WeightsError(
        f"cannot tell which {family.label} architecture {path.name} holds: keep Meta's original file name "
        f"(e.g. {family.file_example}) or set embedding.options.timm_model (a timm model name)"
    )


def vit_dim(family: ViTFamily, config: Any) -> int:
    """Embedding width for `config` without loading weights: config.json, the file name, or a table."""
    path, hub_id = checkpoint_location(config, family.default_model, family.backend)
    timm_kwargs = {**family.timm_kwargs, **dict_option(config, "timm_kwargs")}
    if path is None:
        if hub_id in family.hub_dims:
            return family.hub_dims[hub_id]
        return _folder_width(family, hub_config(hub_id, family.backend), Path(hub_id), timm_kwargs)
    if path.is_file():
        name = timm_name_for_file(family, config, path)
        width = timm_width(name, timm_kwargs)
        if width is None:
            raise WeightsError(f"cannot tell the width of timm model {name}; set embedding.options.timm_kwargs.embed_dim")
        return width
    return _folder_width(family, read_folder_config(path), path, timm_kwargs)


def _folder_width(family: ViTFamily, model_config: dict, where: Path, timm_kwargs: Mapping[str, Any]) -> int:
    if is_timm_folder(model_config):
        width = timm_width(model_config["architecture"], timm_kwargs) if "embed_dim" in timm_kwargs else None
        width = width or model_config.get("num_features") or timm_width(model_config["architecture"])
        if not isinstance(width, int) or width < 1:
            raise WeightsError(f"{where}/{CONFIG} names timm model {model_config['architecture']!r} but no num_features; download the folder again")
        return width
    check_model_type(model_config, where, family.model_types, family.label, family.backend, family.default_model)
    return config_width(model_config, where)


def _timm_embedder(family: ViTFamily, config: Any, name: str, weights: Path, overlay: Mapping[str, Any], short_side: int, crop: int | None) -> ViTEmbedder:
    from .weights import read_tensors

    keys = list(read_tensors(weights))  # also rejects a truncated or corrupt file with one line
    name = prefer_qkv_bias_variant(name, keys)
    kwargs = {**family.timm_kwargs, **dict_option(config, "timm_kwargs")}
    model = load_timm_model(name, weights, config.device, config.precision, family.label, overlay, **kwargs)
    cfg = model.pretrained_cfg
    size = crop or family.crop_size
    prep = Preprocess(size=(size, size), mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))  # type: ignore[arg-type]
    return ViTEmbedder(
        forward=timm_forward(model),
        dim=int(model.num_features),
        patch_size=int(model.patch_embed.patch_size[0]),
        preprocess=prep,
        short_side=short_side,
        device=config.device,
        precision=config.precision,
        source=f"timm {name} from {weights}",
        model=model,
    )


def load_vit(family: ViTFamily, config: Any) -> ViTEmbedder:
    """Load the checkpoint `config` names (folder, file or hub id) once, as a ViTEmbedder."""
    short_side = int_option(config, "short_side", family.short_side)
    crop = int_option(config, "crop_size", family.crop_size) if "crop_size" in (config.options or {}) else None
    path, hub_id = checkpoint_location(config, family.default_model, family.backend)
    if path is None:
        path = hub_snapshot(hub_id, family.backend)
    if path.is_file():
        return _timm_embedder(family, config, timm_name_for_file(family, config, path), path, {}, short_side, crop)
    model_config = read_folder_config(path)
    if is_timm_folder(model_config):
        from .weights import weight_files

        arch = model_config["architecture"]
        if family.timm_marker not in arch:
            raise WeightsError(f"{path} holds timm model {arch!r}, not {family.label}; pass a {family.label} checkpoint")
        cfg = dict(model_config.get("pretrained_cfg") or {})
        name = str_option(config, "timm_model") or arch + (f".{cfg['tag']}" if cfg.get("tag") else "")
        return _timm_embedder(family, config, name, weight_files(path)[0], cfg, short_side, crop)
    check_model_type(model_config, path, family.model_types, family.label, family.backend, family.default_model)
    model = load_transformers_model(path, family.backend, config.device, config.precision)
    patch = model.config.patch_size
    patch = int(patch[0] if isinstance(patch, (list, tuple)) else patch)
    registers = int(getattr(model.config, "num_register_tokens", 0) or 0)
    return ViTEmbedder(
        forward=transformers_forward(model, 1 + registers),
        dim=int(model.config.hidden_size),
        patch_size=patch,
        preprocess=processor_preprocess(path, crop),
        short_side=short_side,
        device=config.device,
        precision=config.precision,
        source=f"transformers {model.config.model_type} from {hub_id or path}",
        model=model,
    )


class ViTBackend:
    """The hooks every ViT family implements the same way; a plugin registers one instance.

    The entry point names the instance (`dinov2 = "orion_dinov2:plugin"`), so the DINOv2 and
    DINOv3 packages hold only what differs: their `ViTFamily` and their `backend_info`.
    """

    def __init__(self, family: ViTFamily, info: Mapping[str, Any]) -> None:
        self.family = family
        self.info = dict(info)

    @hookimpl
    def embedding_dim(self, config):
        return vit_dim(self.family, config)

    @hookimpl
    def load_embedder(self, config):
        return load_vit(self.family, config)

    @hookimpl
    def encode_batch(self, embedder, images):
        return embedder.encode_crops(images)

    @hookimpl
    def encode_feature_maps(self, embedder, frames):
        return embedder.encode_frames(frames)

    @hookimpl
    def backend_info(self):
        return dict(self.info)
