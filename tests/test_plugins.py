"""Discovery, isolation of broken plugins, and dispatch by name."""

from __future__ import annotations

import logging
import textwrap
from importlib import metadata

import numpy as np
import pytest

from orion_core import plugins
from orion_core.config import EmbeddingConfig
from orion_core.errors import PluginError, UnknownBackendError
from orion_core.plugins import get_backend, load_plugins, register_backend, reset_plugins, unregister_backend

from fakes import make_backend


@pytest.fixture
def fresh_plugins():
    reset_plugins()
    yield
    reset_plugins()


@pytest.fixture
def fake_entry_points(monkeypatch, tmp_path, fresh_plugins):
    """Replace the installed entry points with modules written into tmp_path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    found: list[metadata.EntryPoint] = []

    def add(name: str, source: str) -> None:
        module = f"orion_fake_{name}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        found.append(metadata.EntryPoint(name=name, value=module, group=plugins.ENTRY_POINT_GROUP))

    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: list(found))
    return add


GOOD = """
    import numpy as np
    from orion_core import hookimpl

    @hookimpl
    def embedding_dim(config):
        return {dim}

    @hookimpl
    def load_embedder(config):
        return None

    @hookimpl
    def encode_batch(embedder, images):
        return np.full((len(images), {dim}), {dim}, dtype=np.float32)
"""


def test_entry_point_name_is_backend_name(fake_entry_points):
    fake_entry_points("alpha", GOOD.format(dim=3))
    records = load_plugins()
    assert records["alpha"].ok
    assert records["alpha"].hooks == ["embedding_dim", "encode_batch", "load_embedder"]
    assert EmbeddingConfig(backend="alpha").embedding_dim == 3


def test_broken_import_is_recorded_and_others_work(fake_entry_points, caplog):
    fake_entry_points("broken", "raise ImportError('needs libfoo')\n")
    fake_entry_points("alpha", GOOD.format(dim=3))
    with caplog.at_level(logging.INFO, logger="orion_core.plugins"):  # said with -v, not before every error
        records = load_plugins()
    assert "ImportError: needs libfoo" in records["broken"].error
    assert records["alpha"].ok
    assert "Failed to load Orion plugin broken" in caplog.text
    with pytest.raises(UnknownBackendError, match="failed to load: ImportError: needs libfoo"):
        get_backend("broken")


def test_strict_mode_makes_a_broken_plugin_fatal(fake_entry_points, monkeypatch):
    fake_entry_points("broken", "raise RuntimeError('boom')\n")
    monkeypatch.setenv("ORION_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="boom"):
        load_plugins()


def test_misspelt_hook_is_an_error_not_silence(fake_entry_points):
    typo = GOOD.format(dim=3) + "\n    @hookimpl\n    def encode_batches(embedder, images):\n        return None\n"
    fake_entry_points("typo", typo)
    record = load_plugins()["typo"]
    assert record.error and "encode_batches" in record.error
    assert "typo" not in plugins.installed_backends()


def test_missing_required_hook_is_reported(fake_entry_points):
    fake_entry_points("half", "from orion_core import hookimpl\n@hookimpl\ndef embedding_dim(config):\n    return 4\n")
    assert load_plugins()["half"].error == "missing required hook(s): load_embedder, encode_batch"


def test_load_plugins_env_limits_loading(fake_entry_points, monkeypatch):
    fake_entry_points("alpha", GOOD.format(dim=3))
    fake_entry_points("beta", GOOD.format(dim=5))
    monkeypatch.setenv("ORION_LOAD_PLUGINS", "beta")
    assert sorted(load_plugins()) == ["beta"]
    reset_plugins()
    monkeypatch.setenv("ORION_LOAD_PLUGINS", "")
    assert load_plugins() == {}


def test_dispatch_calls_only_the_named_plugin(fake_entry_points):
    """Both plugins implement every hook; the one named wins whatever the registration order."""
    fake_entry_points("alpha", GOOD.format(dim=3))
    fake_entry_points("beta", GOOD.format(dim=5))
    load_plugins()
    for name, dim in (("alpha", 3), ("beta", 5)):
        backend = get_backend(name)
        assert backend.call("embedding_dim", config=None) == dim
        out = backend.call("encode_batch", embedder=None, images=[np.zeros((2, 2, 3), np.uint8)])
        assert out.shape == (1, dim) and out[0, 0] == dim


def test_unknown_backend_lists_installed_and_pip_line(fake_entry_points):
    fake_entry_points("alpha", GOOD.format(dim=3))
    with pytest.raises(ValueError) as info:
        EmbeddingConfig(backend="dinov3")
    message = str(info.value)
    assert "unknown backend 'dinov3'" in message
    assert "installed backends: alpha" in message
    assert "pip install orion-dinov3" in message
    assert "\n" not in message
    with pytest.raises(UnknownBackendError) as info:
        EmbeddingConfig(backend="nosuch")
    assert "pip install" not in str(info.value)


WEIGHTS_HERE = GOOD + """
    @hookimpl
    def backend_info():
        return {{"weights_present": True}}
"""


def test_default_backend_prefers_video_then_dinov3_then_dinov2(fake_entry_points):
    fake_entry_points("dinov2", WEIGHTS_HERE.format(dim=3))
    assert plugins.default_backend() == "dinov2"
    reset_plugins()
    fake_entry_points("vjepa2", WEIGHTS_HERE.format(dim=4))
    assert plugins.default_backend() == "vjepa2"
    assert EmbeddingConfig().backend == "vjepa2"


def test_default_backend_falls_back_to_histogram(fake_entry_points):
    fake_entry_points("alpha", GOOD.format(dim=3))
    assert plugins.default_backend() == "histogram"


def test_register_backend_in_process(fresh_plugins):
    register_backend("fake", make_backend(dim=6))
    try:
        assert EmbeddingConfig(backend="fake").embedding_dim == 6
    finally:
        unregister_backend("fake")
    with pytest.raises(UnknownBackendError):
        get_backend("fake")


def test_installed_histogram_is_registered_through_core_entry_point(fresh_plugins):
    record = load_plugins()["histogram"]
    assert record.ok and record.distribution == "orion-core"
    assert record.value == "orion_core.backends.histogram"
