"""Discover backend plugins through entry points and call hooks on one of them by name.

A plugin that fails to import (or implements a misspelt hook) is recorded and reported by
`orion plugins`; the others keep working (`ORION_STRICT_PLUGINS=1` makes it fatal, for CI).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownBackendError

ENTRY_POINT_GROUP = "orion.backends"
REQUIRED_HOOKS = ("embedding_dim", "load_embedder", "encode_batch")
OPTIONAL_HOOKS = ("encode_feature_maps", "encode_clips", "backend_info")
FIRST_PARTY = ("dinov2", "dinov3", "vjepa2", "mobilenetv2")
# The default backend when none is named: the strongest installed one.
DEFAULT_PREFERENCE = ("vjepa2", "dinov3", "dinov2")
FALLBACK_BACKEND = "histogram"

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


def _register(ep: metadata.EntryPoint) -> PluginRecord:
    dist = getattr(ep, "dist", None)
    record = PluginRecord(
        name=ep.name,
        distribution=dist.metadata["Name"] if dist is not None else None,
        version=dist.version if dist is not None else None,
        value=ep.value,
    )
    if ep.name in _records:
        record.error = f"backend name {ep.name!r} is already taken by {_records[ep.name].distribution}"
        return record
    try:
        module = ep.load()
        pm.register(module, name=ep.name)
    except Exception as exc:  # a broken plugin must not break the others
        record.error = f"{type(exc).__name__}: {exc}"
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


def load_plugins() -> dict[str, PluginRecord]:
    """Load every `orion.backends` entry point once; return the records by backend name."""
    global _loaded
    with _lock:
        if _loaded:
            return _records
        allowed = _allowed_names()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if allowed is not None and ep.name not in allowed:
                continue
            record = _register(ep)
            _records.setdefault(record.name, record)
            if record.error:
                message = f"Failed to load Orion plugin {record.name} ({record.distribution} {record.version}): {record.error}"
                if _strict():
                    raise PluginError(message + " (ORION_STRICT_PLUGINS is set)")
                log.warning(message)
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
        if name in _records:
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


def default_backend() -> str:
    """First installed of vjepa2, dinov3, dinov2; else the weight-free histogram."""
    names = installed_backends()
    for name in DEFAULT_PREFERENCE:
        if name in names:
            return name
    return FALLBACK_BACKEND


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

    def has(self, hook: str) -> bool:
        return hook in self.record.hooks

    def call(self, hook: str, **kwargs: Any) -> Any:
        if not self.has(hook):
            raise PluginError(f"backend {self.name!r} does not implement {hook}")
        caller = _callers.get(self.name + "." + hook)
        if caller is None:
            others = [plugin for plugin in pm.get_plugins() if plugin is not pm.get_plugin(self.name)]
            caller = pm.subset_hook_caller(hook, remove_plugins=others)
            _callers[self.name + "." + hook] = caller
        return caller(**kwargs)

    def info(self) -> dict:
        if not self.has("backend_info"):
            return {}
        return dict(self.call("backend_info") or {})


def get_backend(name: str) -> Backend:
    """The plugin registered under `name`, or UnknownBackendError listing what is installed."""
    records = load_plugins()
    record = records.get(name)
    if record is None or not record.ok:
        raise UnknownBackendError(unknown_backend_message(name))
    return Backend(name=name, record=record)
