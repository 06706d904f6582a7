"""Check a downloaded checkpoint before a run, without loading it into a model.

A half-finished `hf download`, a config.json from one checkpoint beside the weights of another,
or a DINOv2 folder passed to `--backend vjepa2` otherwise surface minutes into a run as a deep
stack trace. Here each becomes one line naming the file and the fix. Safetensors files are opened
with `safetensors.safe_open` (the library's own header validation; the data is memory-mapped, not
read); `.bin` and `.pth` files go through `torch.load(weights_only=True, mmap=True)`, which never
runs pickled code. For Hugging Face folders the model transformers would build from config.json is
instantiated on the meta device (no memory) and every tensor's name and shape is compared with the
files: what verify accepts, the loader loads.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import WeightsError, clip, quote
from .files import check_size, kind_of, regular_file

Tensors = dict[str, tuple[tuple[int, ...], str]]  # name -> (shape, dtype)


@dataclass(frozen=True)
class Family:
    """What a checkpoint family looks like: config keys to trust and where its encoder blocks live."""

    model_type: str  # config.json `model_type` (for single files: their format)
    name: str  # what we print
    backend: str  # the Orion backend that runs it
    layer_pattern: str  # regex; group 1 = encoder block index (predictor/head blocks must not match)
    required: tuple[str, ...] = ("hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size")
    shown: tuple[str, ...] = ()  # extra config keys worth printing
    temporal_key: str | None = None  # config key for the patch embedding's time extent (video models)
    unused_prefix: str | None = None  # weights Orion never runs, counted apart
    unused_part: str = ""  # what to call them


FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        Family("dinov2", "dinov2", "dinov2", r"(?:^|\.)encoder\.layer\.(\d+)\.", shown=("image_size",)),
        Family(
            "dinov2_with_registers",
            "dinov2-with-registers",
            "dinov2",
            r"(?:^|\.)encoder\.layer\.(\d+)\.",
            shown=("image_size", "num_register_tokens"),
        ),
        Family("dinov3_vit", "dinov3", "dinov3", r"(?:^|\.)layer\.(\d+)\.", shown=("num_register_tokens",)),
        Family(
            "vjepa2",
            "vjepa2",
            "vjepa2",
            r"(?:^|\.)encoder\.layer\.(\d+)\.",
            required=("hidden_size", "num_hidden_layers", "num_attention_heads", "patch_size", "crop_size", "tubelet_size"),
            shown=("crop_size", "tubelet_size", "frames_per_clip"),
            temporal_key="tubelet_size",
            unused_prefix="predictor.",
            unused_part="the predictor",
        ),
    )
}
# Single-file state dicts (no config.json): recognised by a key only that format has.
META_DINOV3 = Family("Meta .pth state dict", "dinov3", "dinov3", r"^blocks\.(\d+)\.", required=())
# Meta's DINOv2 files: learned position embeddings (`pos_embed`) and, for _reg4, `register_tokens`.
META_DINOV2 = Family("Meta .pth state dict", "dinov2", "dinov2", r"^blocks\.(\d+)\.", required=())
MOBILENETV2 = Family(".pt state dict", "mobilenetv2", "mobilenetv2", r"^features\.(\d+)\.", required=())
# timm's hub layout (config.json names an `architecture`, no `model_type`): backend by a word in the name.
TIMM_MARKERS = (("dinov3", "dinov3"), ("dinov2", "dinov2"))
BACKENDS = ("dinov2", "dinov3", "vjepa2", "mobilenetv2")
WEIGHTLESS = ("histogram",)

PATCH_EMBED = re.compile(r"patch_embed\w*\.(?:projection\.|proj\.)?weight$")
MAX_JSON_BYTES = 64 * 2**20  # config.json is a few KB, a shard index of a 7B model under 100 KB
# Weights transformers' loader does not need (pre-training only); `load_transformers_model` ignores them too.
OPTIONAL_WEIGHTS = ("mask_token",)
DOWNLOAD_HINT = "download it again (e.g. hf download ORG/MODEL --local-dir DIR)"


@dataclass
class CheckpointReport:
    """What `verify_checkpoint` found; `lines()` is what the CLI prints."""

    path: Path
    family: str
    backend: str
    source: str  # "model_type X" for HF folders, the file format otherwise
    hidden_size: int
    num_layers: int
    parameters: int
    unused_parameters: int = 0
    unused_part: str = ""
    dims: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    checked: str = "layout, config.json, every tensor name and shape against the model transformers builds from it"

    @property
    def run_command(self) -> str:
        return f"orion run VIDEO --backend {self.backend} --weights {shlex.quote(str(self.path))}"

    def lines(self) -> list[str]:
        dims = ", ".join(f"{key} {value}" for key, value in self.dims.items())
        params = f"{human_count(self.parameters)} ({self.parameters:,})"
        if self.unused_parameters:
            params += f", of which {human_count(self.unused_parameters)} in {self.unused_part}, which Orion does not run"
        return [
            f"OK {self.path}",
            f"  family      {self.family} ({self.source})",
            f"  backend     {self.backend}",
            f"  dims        hidden {self.hidden_size}, layers {self.num_layers}" + (f", {dims}" if dims else ""),
            f"  parameters  {params}",
            f"  files       {', '.join(self.files)} ({'/'.join(self.dtypes)})",
            f"  checked     {self.checked}",
            f"  run         {self.run_command}",
        ]


def human_count(count: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


# -- reading tensor headers -----------------------------------------------------------------
def read_safetensors_header(path: Path) -> Tensors:
    """Shapes and dtypes of a .safetensors file via `safe_open`; truncated or corrupt files raise WeightsError."""
    from safetensors import SafetensorError, safe_open

    info = regular_file(path, "weights file", WeightsError, DOWNLOAD_HINT)
    if info.st_size < 8:
        raise WeightsError(f"{path} is {info.st_size} bytes, too short to be safetensors; {DOWNLOAD_HINT}")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            tensors: Tensors = {}
            for name in handle.keys():
                part = handle.get_slice(name)
                tensors[name] = (tuple(int(v) for v in part.get_shape()), str(part.get_dtype()))
    except (SafetensorError, OSError, ValueError) as exc:
        reason = str(exc)
        if "incomplete metadata" in reason.lower() or "MetadataIncompleteBuffer" in reason:
            raise WeightsError(
                f"{path} is truncated: its header promises more data than the file's {info.st_size:,} bytes "
                f"(an unfinished download); {DOWNLOAD_HINT}"
            ) from None
        raise WeightsError(
            f"{path} has a broken safetensors header (truncated or not safetensors: {clip(reason)}); {DOWNLOAD_HINT}"
        ) from None
    return tensors


def _is_whole_pickle(path: Path) -> bool:
    """A complete, well-formed pickle stream (read opcode by opcode, nothing executed).

    torch's safe unpickler stops at the first opcode it does not take (a protocol-4 FRAME of a plain
    pickle, say) before it sees any class: a file that is nevertheless a whole pickle is one it
    refused, not a truncated download.
    """
    import pickletools
    import zipfile

    if zipfile.is_zipfile(path):
        return False  # torch's own format: its unpickler reported what it refused
    try:
        with open(path, "rb") as handle:
            for opcode, _, _ in pickletools.genops(handle):
                if opcode.name == "STOP":
                    return True
    except Exception:  # not a pickle, or cut short
        return False
    return False


def load_torch_state(path: Path) -> dict:
    """A .bin/.pth/.pt state dict of tensors via weights_only torch.load (memory-mapped where the format
    allows), every failure one WeightsError line: the loader plugins and `weights verify` share it."""
    import pickle
    import warnings

    import torch

    regular_file(path, "weights file", WeightsError, DOWNLOAD_HINT)

    def load(mmap: bool) -> Any:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": a second stderr line saying nothing
            warnings.simplefilter("ignore")
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)

    try:
        try:
            state = load(mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # legacy (pre-zip) files cannot be memory-mapped
                raise
            state = load(mmap=False)
    except pickle.UnpicklingError as exc:
        # torch's safe unpickler names what it refused: a global (class, function) means code; an
        # unknown opcode means bytes that are no pickle at all (garbage or a cut file)
        if "unsupported global" in str(exc).lower() or _is_whole_pickle(path):
            raise WeightsError(
                f"{path} contains Python objects, not only tensors; refused for safety (loading it could run code): "
                "use a safetensors file or a state dict of tensors from a source you trust"
            ) from None
        raise WeightsError(f"cannot read {path} as a PyTorch state dict ({clip(exc)}): truncated or corrupt; {DOWNLOAD_HINT}") from None
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(
            f"cannot read {path} as a PyTorch state dict ({reason}): truncated, corrupt or not tensors; {DOWNLOAD_HINT}"
        ) from None
    state = unwrap_state(state)
    if state is None:
        raise WeightsError(f"{path} does not hold a state dict of tensors; give the model weights file")
    odd = next((key for key in state if not isinstance(key, str)), None)
    if odd is not None:
        raise WeightsError(f"{path}: tensor name {clip(repr(odd))} is a {type(odd).__name__}, not a name; give the model weights file")
    return state


def read_torch_state(path: Path) -> Tensors:
    """Shapes from a .bin/.pth/.pt state dict (see load_torch_state)."""
    state = load_torch_state(path)
    return {name: (tuple(value.shape), str(value.dtype).replace("torch.", "")) for name, value in state.items()}


def unwrap_state(state: Any) -> dict | None:
    """Training checkpoints nest the tensors ({'model': {...}}); take the one dict that holds them."""
    import torch

    for _ in range(3):
        if not isinstance(state, dict):
            return None
        tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
        nested = [v for v in state.values() if isinstance(v, dict)]
        if len(nested) != 1:
            return None
        state = nested[0]
    return None


# -- folder layout ---------------------------------------------------------------------------
def weight_files(folder: Path) -> list[Path]:
    """The weight files of a HF folder (sharded or not); missing shards raise WeightsError."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            weight_map = read_config(index).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise WeightsError(f"{index} has no weight_map; {DOWNLOAD_HINT}")
            shards = sorted({shard_name(index, value) for value in weight_map.values()})
            missing = [name for name in shards if not (folder / name).exists()]
            if missing:
                raise WeightsError(
                    f"{folder} lacks {len(missing)} of {len(shards)} shards listed in {index_name} "
                    f"(first: {missing[0]}); {DOWNLOAD_HINT}"
                )
            return [folder / name for name in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).exists():  # a FIFO or folder of that name is refused by read_tensors, not skipped
            return [folder / name]
    others = sorted(p.name for p in folder.glob("*.safetensors"))
    if others:
        return [folder / name for name in others]
    raise WeightsError(
        f"{folder} has config.json but no weights (model.safetensors or pytorch_model.bin): "
        f"the download is incomplete; {DOWNLOAD_HINT}"
    )


def shard_name(index: Path, value: Any) -> str:
    """A weight_map entry: the plain name of a file beside the index (never a path out of the folder)."""
    if not isinstance(value, str) or not value or "/" in value or "\\" in value or value in (".", "..") or "\x00" in value:
        raise WeightsError(
            f"{index}: weight_map names {clip(repr(value))}, not a file name in {index.parent}; {DOWNLOAD_HINT}"
        )
    return value


def read_config(path: Path) -> dict:
    """A JSON object from a regular file of at most MAX_JSON_BYTES; anything else is one WeightsError line."""
    info = regular_file(path, "config file", WeightsError, DOWNLOAD_HINT)
    check_size(path, info.st_size, MAX_JSON_BYTES, "config file", WeightsError)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}); {DOWNLOAD_HINT}") from None
    except RecursionError:
        raise WeightsError(f"{path} is nested too deeply to be a model config (corrupt); {DOWNLOAD_HINT}") from None
    except UnicodeDecodeError:
        raise WeightsError(f"{path} is not a text file; {DOWNLOAD_HINT}") from None
    except OSError as exc:
        raise WeightsError(f"{path} cannot be read ({exc.strerror}); check its permissions") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path} is not a JSON object; {DOWNLOAD_HINT}")
    return data


def find_config_below(folder: Path, depth: int = 3) -> Path | None:
    """A config.json a few levels down (hub cache snapshots, an extra wrapping folder), to suggest it."""
    for level in range(1, depth + 1):
        found = sorted(folder.glob("/".join(["*"] * level) + "/config.json"))
        if found:
            return found[0].parent
    return None


def family_for(config: dict, config_path: Path) -> Family:
    model_type = config.get("model_type")
    known = ", ".join(FAMILIES)
    if model_type is None:
        raise WeightsError(f"{config_path} has no model_type; Orion's backends read checkpoints of model_type {known}")
    if not isinstance(model_type, str):
        raise WeightsError(f"{config_path}: model_type must be a string, got {type(model_type).__name__}; {DOWNLOAD_HINT}")
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    raise WeightsError(
        f"{config_path}: model_type {quote(model_type)} is not a family Orion's backends read ({known}); download one of those"
    )


def config_ints(config: dict, family: Family, config_path: Path) -> dict[str, int]:
    values = {}
    for key in family.required:
        value = config.get(key)
        if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
            value = value[0]  # patch_size [16, 16]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WeightsError(f"{config_path}: {key} must be a positive integer, got {quote(repr(value))}; {DOWNLOAD_HINT}")
        values[key] = value
    if values["hidden_size"] % values["num_attention_heads"]:
        raise WeightsError(
            f"{config_path}: hidden_size {values['hidden_size']} is not a multiple of num_attention_heads "
            f"{values['num_attention_heads']}; the config is corrupt, {DOWNLOAD_HINT}"
        )
    return values


# -- shape checks ------------------------------------------------------------------------------
def layer_count(tensors: Tensors, family: Family) -> int:
    pattern = re.compile(family.layer_pattern)
    indices = {int(m.group(1)) for name in tensors if (m := pattern.search(name))}
    return max(indices) + 1 if indices else 0


def patch_embedding(tensors: Tensors, where: str) -> tuple[str, tuple[int, ...]]:
    found = [(name, shape) for name, (shape, _) in tensors.items() if PATCH_EMBED.search(name)]
    if not found:
        raise WeightsError(
            f"{where} has no patch-embedding weight; it is not a ViT checkpoint Orion can run ({DOWNLOAD_HINT})"
        )
    name, shape = found[0]
    if len(shape) not in (4, 5):  # (out, in, [time,] h, w)
        raise WeightsError(f"{where}: {name} has shape {list(shape)}, not a patch-embedding kernel (corrupt); {DOWNLOAD_HINT}")
    return name, shape


def check_shapes(family: Family, values: dict[str, int], tensors: Tensors, where: str) -> None:
    """The config and the tensors must describe the same network; mismatches mean mixed downloads."""
    name, shape = patch_embedding(tensors, where)
    hidden, patch = values["hidden_size"], values["patch_size"]
    if shape[0] != hidden:
        raise WeightsError(
            f"config.json says hidden_size {hidden} but {name} in {where} has {shape[0]} channels: config and "
            f"weights come from different checkpoints; {DOWNLOAD_HINT}"
        )
    if tuple(shape[-2:]) != (patch, patch):
        raise WeightsError(f"config.json says patch_size {patch} but {name} in {where} is {list(shape)}; {DOWNLOAD_HINT}")
    if family.temporal_key is not None and (len(shape) != 5 or shape[2] != values[family.temporal_key]):
        raise WeightsError(
            f"config.json says {family.temporal_key} {values[family.temporal_key]} but {name} in {where} is {list(shape)}; {DOWNLOAD_HINT}"
        )
    layers = layer_count(tensors, family)
    if layers != values["num_hidden_layers"]:
        raise WeightsError(
            f"config.json says num_hidden_layers {values['num_hidden_layers']} but {where} holds {layers} encoder layers: "
            f"config and weights come from different checkpoints; {DOWNLOAD_HINT}"
        )


def expected_tensors(folder: Path) -> tuple[dict[str, tuple[int, ...]], str]:
    """Name -> shape of every tensor the model transformers builds from `folder`/config.json, on the meta device.

    Returns also the model's `base_model_prefix` (checkpoints saved from a task model carry it).
    """
    import warnings

    import torch
    from transformers import AutoConfig, AutoModel

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
            with torch.device("meta"):
                model = AutoModel.from_config(config, trust_remote_code=False)
            state = saved_layout(model)
    except RecursionError:
        raise WeightsError(f"{folder}/config.json is nested too deeply to be a model config (corrupt); {DOWNLOAD_HINT}") from None
    except Exception as exc:  # a value transformers cannot build a model from (negative size, wrong type, ...)
        raise WeightsError(
            f"{folder}/config.json describes no model transformers can build ({type(exc).__name__}: {clip(' '.join(str(exc).split()), 160)}); "
            f"{DOWNLOAD_HINT}"
        ) from None
    return {name: tuple(value.shape) for name, value in state.items()}, model.base_model_prefix


def saved_layout(model: Any) -> dict:
    """The state dict as `save_pretrained` writes it: transformers 5 renames (and may fuse) some weights
    between the file and the module tree, and saves in the original layout the hub files use."""
    state = model.state_dict()
    try:
        from transformers.core_model_loading import revert_weight_conversion
    except ImportError:  # transformers 4: files use the module names
        return state
    return revert_weight_conversion(model, state)


def check_against_model(folder: Path, tensors: Tensors, where: str) -> None:
    """Every tensor the model needs must be in the files with the model's shape (what from_pretrained enforces).

    Catches what the family-level checks cannot: a wrong intermediate_size or num_register_tokens in
    config.json, a tensor missing from the files. Extra tensors are fine (the loader ignores them).
    """
    expected, prefix = expected_tensors(folder)
    strip = f"{prefix}." if prefix else ""
    found = {}
    for name, (shape, _) in tensors.items():
        key = name[len(strip):] if strip and name.startswith(strip) and name[len(strip):] in expected else name
        found[key] = shape
    missing = [name for name in expected if name not in found and not any(part in name for part in OPTIONAL_WEIGHTS)]
    if missing:
        raise WeightsError(
            f"{where} lacks {len(missing)} tensor(s) the model described by config.json needs (first: {clip(missing[0])}), "
            f"so they would be random; config and weights come from different checkpoints, {DOWNLOAD_HINT}"
        )
    for name, shape in expected.items():
        if name in found and tuple(found[name]) != shape:
            raise WeightsError(
                f"config.json describes {clip(name)} as {list(shape)} but {where} has {list(found[name])}: config and "
                f"weights come from different checkpoints (check sizes such as intermediate_size, num_register_tokens); "
                f"{DOWNLOAD_HINT}"
            )


def parameter_counts(tensors: Tensors, unused_prefix: str | None) -> tuple[int, int]:
    total = unused = 0
    for name, (shape, _) in tensors.items():
        numel = 1
        for dim in shape:
            numel *= dim
        total += numel
        if unused_prefix and name.startswith(unused_prefix):
            unused += numel
    return total, unused


def read_tensors(path: Path) -> Tensors:
    if path.suffix == ".safetensors":
        return read_safetensors_header(path)
    return read_torch_state(path)


# -- entry point ---------------------------------------------------------------------------------
def check_backend_name(backend: str | None) -> None:
    if backend is None or backend in BACKENDS:
        return
    if backend in WEIGHTLESS:
        raise WeightsError(f"backend {quote(backend)} needs no weights; there is nothing to verify (drop --weights from orion run)")
    raise WeightsError(
        f"orion weights verify knows checkpoints for {', '.join(BACKENDS)}, not backend {quote(backend)}; check the --backend spelling"
    )


def check_family(family: Family, backend: str | None, path: Path) -> None:
    if backend is not None and backend != family.backend:
        raise WeightsError(
            f"{path} holds a {family.name} checkpoint (backend {family.backend}), not one for backend {backend}; "
            f"run with --backend {family.backend}, or download a {backend} checkpoint"
        )


def verify_file(path: Path, backend: str | None) -> CheckpointReport:
    """A single file: only Meta's DINOv2/DINOv3 .pth or the MobileNetV2 .pt make sense on their own."""
    if path.name == "config.json" or path.suffix in (".safetensors", ".json"):
        raise WeightsError(f"{path} is a file; give the folder that holds config.json and the weights: {path.parent}")
    if path.suffix not in (".pth", ".pt", ".bin"):
        raise WeightsError(f"{path} is a file, not a checkpoint folder; give the folder with config.json (or a DINOv3 .pth file)")
    tensors = read_torch_state(path)
    if "storage_tokens" in tensors:
        family = META_DINOV3
    elif "pos_embed" in tensors and "cls_token" in tensors:
        family = META_DINOV2
    elif "features.0.0.weight" in tensors:
        family = MOBILENETV2
    else:
        raise WeightsError(
            f"{path} is a single weights file but neither a Meta DINOv2/DINOv3 .pth nor the mobilenetv2 .pt; "
            "for other models give the Hugging Face folder that holds config.json"
        )
    check_family(family, backend, path)
    if family is MOBILENETV2:
        last_conv = tensors.get(f"features.{layer_count(tensors, family) - 1}.0.weight", ((0,), ""))[0]
        hidden, dims = last_conv[0], {}
    else:
        _, shape = patch_embedding(tensors, str(path))
        tokens = tensors.get("storage_tokens", tensors.get("register_tokens", ((1, 0, 0), "")))[0]
        if len(tokens) != 3:
            raise WeightsError(f"{path}: register tokens have shape {list(tokens)}, expected (1, N, width) (corrupt); {DOWNLOAD_HINT}")
        hidden, dims = shape[0], {"patch_size": shape[-1], "register_tokens": tokens[1]}
    total, _ = parameter_counts(tensors, None)
    return CheckpointReport(
        path=path.resolve(),
        family=family.name,
        backend=family.backend,
        source=family.model_type,
        hidden_size=hidden,
        num_layers=layer_count(tensors, family),
        parameters=total,
        dims=dims,
        files=[path.name],
        dtypes=sorted({dtype for _, dtype in tensors.values()}),
        checked="layout, patch embedding and layer count only (a single file has no config to check the "
        "other shapes against); the backend's strict load checks every tensor",
    )


def verify_timm_folder(path: Path, config: dict, backend: str | None) -> CheckpointReport:
    """A timm hub folder: the only config to check against the tensors is `num_features`."""
    arch = config["architecture"]
    owner = next((name for marker, name in TIMM_MARKERS if marker in arch), None)
    if owner is None:
        raise WeightsError(f"{path}/config.json names timm model {quote(arch)}, which is no DINOv2/DINOv3 ViT Orion's backends read")
    family = Family(f"timm {arch}", owner, owner, r"(?:^|\.)blocks\.(\d+)\.", required=())
    check_family(family, backend, path)
    files = weight_files(path)
    tensors: Tensors = {}
    for file in files:
        tensors.update(read_tensors(file))
    where = files[0].name if len(files) == 1 else f"the {len(files)} weight shards"
    _, shape = patch_embedding(tensors, where)
    width = config.get("num_features")
    if isinstance(width, int) and width != shape[0]:
        raise WeightsError(
            f"config.json says num_features {width} but the patch embedding in {where} has {shape[0]} channels: "
            f"config and weights come from different checkpoints; {DOWNLOAD_HINT}"
        )
    total, _ = parameter_counts(tensors, None)
    return CheckpointReport(
        path=path.resolve(),
        family=owner,
        backend=owner,
        source=family.model_type,
        hidden_size=shape[0],
        num_layers=layer_count(tensors, family),
        parameters=total,
        dims={"patch": shape[-1]},
        files=[file.name for file in files],
        dtypes=sorted({dtype for _, dtype in tensors.values()}),
        checked="layout, num_features against the patch embedding, layer count; timm's strict load checks "
        "every other tensor when the backend loads it",
    )


def verify_checkpoint(path: str | Path, backend: str | None = None) -> CheckpointReport:
    """Check a checkpoint folder (or DINOv3 .pth / mobilenetv2 .pt file); raise WeightsError with the fix."""
    check_backend_name(backend)
    path = Path(path).expanduser()
    if not path.exists():
        raise WeightsError(f"{path} does not exist; {DOWNLOAD_HINT.replace('download it again', 'download the checkpoint first')}")
    kind = kind_of(path.stat().st_mode)
    if kind not in (None, "a directory"):  # a FIFO would block the first read
        raise WeightsError(f"{path} is {kind}, not a checkpoint folder or file; give the folder that holds config.json")
    if path.is_file():
        return verify_file(path, backend)
    config_path = path / "config.json"
    if not config_path.exists():  # a FIFO or folder of that name is refused by read_config, not "missing"
        below = find_config_below(path)
        hint = f"did you mean {below}?" if below else "give the folder that holds config.json and model.safetensors"
        raise WeightsError(f"{path} has no config.json; {hint}")
    config = read_config(config_path)
    if "model_type" not in config and isinstance(config.get("architecture"), str):
        return verify_timm_folder(path, config, backend)
    family = family_for(config, config_path)
    check_family(family, backend, path)
    values = config_ints(config, family, config_path)
    files = weight_files(path)
    tensors: Tensors = {}
    for file in files:
        tensors.update(read_tensors(file))
    if not tensors:
        raise WeightsError(f"{files[0]} holds no tensors; {DOWNLOAD_HINT}")
    where = files[0].name if len(files) == 1 else f"the {len(files)} weight shards"
    check_shapes(family, values, tensors, where)
    check_against_model(path, tensors, where)
    total, unused = parameter_counts(tensors, family.unused_prefix)
    dims = {"heads": values["num_attention_heads"], "patch": values["patch_size"]}
    dims.update({key: config[key] for key in family.shown if key in config})
    return CheckpointReport(
        path=path.resolve(),
        family=family.name,
        backend=family.backend,
        source=f"model_type {family.model_type}",
        hidden_size=values["hidden_size"],
        num_layers=values["num_hidden_layers"],
        parameters=total,
        unused_parameters=unused,
        unused_part=family.unused_part,
        dims=dims,
        files=[file.name for file in files],
        dtypes=sorted({dtype for _, dtype in tensors.values()}),
    )
