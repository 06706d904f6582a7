"""Issue 9, plugin isolation: a plugin is other people's code in our process; nothing it does may
take the core (or an unrelated command) down with it, and every contract breach is one `Error:`
line that names it, exit 2, no traceback."""

from __future__ import annotations

import json
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from orion_core import hookimpl
from orion_core.plugins import get_backend, register_backend, unregister_backend

from fakes import make_backend
from trust_helpers import GOOD_PLUGIN, assert_one_error_line, fake_distribution, orion, orion_subprocess, write_inputs


# -- installed distributions (real entry points, in a subprocess) ----------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder of fake installed distributions, each misbehaving in one way."""
    root = tmp_path_factory.mktemp("site")
    marker = root / "evil-was-imported"
    fake_distribution(
        root, "orion-evil-histogram", {"histogram": "orion_evil_histogram"},
        {"orion_evil_histogram": f"open({str(marker)!r}, 'w').close()\n" + GOOD_PLUGIN},
    )  # fmt: skip
    fake_distribution(root, "orion-twin-one", {"twin": "orion_twin_one"}, {"orion_twin_one": GOOD_PLUGIN})
    fake_distribution(root, "orion-twin-two", {"twin": "orion_twin_two"}, {"orion_twin_two": GOOD_PLUGIN})
    fake_distribution(root, "orion-exit-plugin", {"exiter": "orion_exiter"}, {"orion_exiter": "import sys\nsys.exit(3)\n"})
    fake_distribution(
        root, "orion-argparse-plugin", {"argy": "orion_argy"},
        {"orion_argy": "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--only')\nparser.parse_args()\n"},
    )  # fmt: skip
    chatty = textwrap.dedent(GOOD_PLUGIN).replace("import numpy as np", "import numpy as np\nprint('hello from chatty at import')")
    chatty = chatty.replace("    return 4", "    print('chatty: embedding_dim called')\n    return 4")
    chatty += "\n@hookimpl\ndef backend_info():\n    print('chatty: backend_info called')\n    return {'description': 'talks'}\n"
    fake_distribution(root, "orion-chatty-plugin", {"chatty": "orion_chatty"}, {"orion_chatty": chatty})
    fake_distribution(root, "orion-broken-too", {"broken_too": "orion_broken_too"}, {"orion_broken_too": "raise ImportError('needs libnothing')\n"})
    return root


@pytest.fixture(scope="module")
def listing(site) -> tuple[dict, str]:
    """`orion plugins --json` with every fake installed: (rows by name, stderr)."""
    result = orion_subprocess(site, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}  # stdout is pure JSON whatever plugins print
    return rows, result.stderr


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("inputs"))


def test_a_third_party_distribution_cannot_replace_the_builtin_histogram(site, listing):
    rows, _ = listing
    row = rows["histogram"]
    assert row["status"] == "ok" and row["distribution"] == "orion-core"
    assert any("orion-evil-histogram" in note for note in row.get("ignored", [])), row
    assert not (site / "evil-was-imported").exists()  # its code never ran


def test_two_distributions_claiming_one_name_is_an_error_naming_both(site, listing, inputs, tmp_path):
    rows, _ = listing
    assert "orion-twin-one" in rows["twin"]["status"] and "orion-twin-two" in rows["twin"]["status"]
    video, det = inputs
    result = orion_subprocess(site, "run", video, "--detections", det, "--out", tmp_path, "--backend", "twin")
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "twin", "orion-twin-one", "orion-twin-two")


def test_sys_exit_or_argparse_at_import_is_recorded_not_fatal(site, listing, inputs, tmp_path):
    rows, _ = listing
    assert "sys.exit(3)" in rows["exiter"]["status"]
    assert "sys.exit(2)" in rows["argy"]["status"]  # argparse rejected `plugins --json`
    assert rows["histogram"]["status"] == "ok"
    video, det = inputs
    ok = orion_subprocess(site, "run", video, "--detections", det, "--out", tmp_path, "--backend", "histogram")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "v" / "run.json").is_file()
    asked = orion_subprocess(site, "run", video, "--detections", det, "--out", tmp_path / "b", "--backend", "exiter")
    assert asked.returncode == 2
    assert_one_error_line(asked.stderr, "exiter", "sys.exit(3)")


def test_a_plugin_printing_to_stdout_does_not_corrupt_plugins_json(listing):
    rows, stderr = listing  # json.loads in the fixture is the real check
    assert rows["chatty"]["status"] == "ok" and rows["chatty"]["embedding_dim"] == 4
    assert "chatty: backend_info called" in stderr  # hook output: stderr
    assert "hello from chatty at import" not in stderr  # import output: only with -vv


def test_import_time_output_is_kept_for_debugging(site):
    result = orion_subprocess(site, "-vv", "plugins", "--json")
    assert result.returncode == 0
    json.loads(result.stdout)
    assert "hello from chatty at import" in result.stderr
    assert "usage:" in result.stderr  # what argparse said before exiting


def test_a_broken_plugin_is_not_announced_before_unrelated_errors(site, inputs, tmp_path):
    _, det = inputs
    missing = tmp_path / "missing.mp4"
    result = orion_subprocess(site, "run", missing, "--detections", det, "--out", tmp_path, "--backend", "histogram")
    assert result.returncode == 2
    assert_one_error_line(result.stderr, "missing.mp4")  # nothing about broken_too, exiter, twin...
    asked = orion_subprocess(site, "run", missing, "--detections", det, "--out", tmp_path, "--backend", "broken_too")
    assert asked.returncode == 2
    assert_one_error_line(asked.stderr, "broken_too", "needs libnothing")
    verbose = orion_subprocess(site, "-v", "plugins")
    assert verbose.returncode == 0
    assert "Failed to load Orion plugin broken_too" in verbose.stderr


# -- hooks that break the contract (in-process, registered backends) -------------------------------
def _meta_tensor(images):
    import torch

    return torch.empty((len(images), 8), device="meta")


def _object_array(images):
    out = np.empty((len(images), 8), dtype=object)
    out[:] = 1.0
    return out


BAD_RESULTS = {
    "string": lambda images: "not an array",
    "ragged": lambda images: [[1.0] * 8] + [[1.0] * 3] * max(len(images) - 1, 1),
    "dict": lambda images: {"embeddings": [[1.0] * 8 for _ in images]},
    "objects": _object_array,
    "meta": _meta_tensor,
}


@pytest.fixture
def backend_named():
    names = []

    def register(name: str, module) -> str:
        register_backend(name, module)
        names.append(name)
        return name

    yield register
    for name in names:
        unregister_backend(name)


def run_with(name: str, inputs, tmp_path, capsys) -> tuple[int, str, str]:
    video, det = inputs
    return orion(["run", video, "--detections", det, "--out", tmp_path / "out", "--backend", name], capsys)


@pytest.mark.parametrize("kind", sorted(BAD_RESULTS))
def test_bad_encode_batch_result_is_one_error_line_naming_the_plugin(kind, backend_named, inputs, tmp_path, capsys):
    name = backend_named(f"bad_{kind}", make_backend(dim=8, result=BAD_RESULTS[kind]))
    code, _, err = run_with(name, inputs, tmp_path, capsys)
    assert code == 2
    assert_one_error_line(err, f"'{name}'", "encode_batch")
    assert not (tmp_path / "out" / "v").exists()


def _with_info(info: dict):
    module = make_backend(dim=8)

    @hookimpl
    def backend_info():
        return info

    module.backend_info = backend_info
    return module


def test_reid_threshold_that_is_not_a_number_names_the_plugin(backend_named, inputs, tmp_path, capsys):
    name = backend_named("high_threshold", _with_info({"reid_threshold": "high"}))
    code, _, err = run_with(name, inputs, tmp_path, capsys)
    assert code == 2
    assert_one_error_line(err, "'high_threshold'", "reid_threshold", "'high'")


def _with_dim(dim):
    module = types.ModuleType("orion_fake_dim")

    @hookimpl
    def embedding_dim(config):
        return dim

    @hookimpl
    def load_embedder(config):
        return None

    @hookimpl
    def encode_batch(embedder, images):  # never asked for huge output: the dim alone must be refused
        return np.ones((len(images), 4), np.float32)

    module.__dict__.update(embedding_dim=embedding_dim, load_embedder=load_embedder, encode_batch=encode_batch)
    return module


@pytest.mark.parametrize("dim", [10**10, 1e10])
def test_absurd_embedding_dim_names_the_plugin(dim, backend_named, inputs, tmp_path, capsys):
    name = backend_named("huge_dim", _with_dim(dim))
    code, _, err = run_with(name, inputs, tmp_path, capsys)
    assert code == 2
    assert_one_error_line(err, "'huge_dim'", "embedding_dim", "10000000000")


@pytest.mark.parametrize("hook", ["encode_batch", "load_embedder", "embedding_dim"])
def test_system_exit_zero_in_a_hook_is_an_error_not_a_silent_success(hook, backend_named, inputs, tmp_path, capsys):
    module = make_backend(dim=8, fail=SystemExit(0))
    if hook != "encode_batch":

        @hookimpl
        def exits(config):
            raise SystemExit(0)

        setattr(module, hook, exits)
    name = backend_named(f"exits_in_{hook}", module)
    code, _, err = run_with(name, inputs, tmp_path, capsys)
    assert code == 2
    assert_one_error_line(err, f"'{name}'", hook, "sys.exit(0)")
    assert not (tmp_path / "out" / "v").exists()


def test_a_hook_printing_to_stdout_goes_to_stderr(backend_named, inputs, tmp_path, capsys):
    def noisy(images):
        print("NOISE FROM PLUGIN")
        return np.ones((len(images), 8), np.float32)

    name = backend_named("noisy", make_backend(dim=8, result=noisy))
    code, out, err = run_with(name, inputs, tmp_path, capsys)
    assert code == 0, err
    assert "NOISE FROM PLUGIN" not in out and "NOISE FROM PLUGIN" in err


def test_plugins_listing_survives_a_contract_breaking_backend_info(backend_named, capsys):
    backend_named("bad_info", _with_info({"reid_threshold": float("nan")}))
    code, out, _ = orion(["plugins", "--json"], capsys)
    assert code == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["bad_info"]["status"].startswith("error:") and "reid_threshold" in rows["bad_info"]["status"]
    assert rows["histogram"]["status"] == "ok"


def test_builtin_name_cannot_be_registered_in_process():
    with pytest.raises(ValueError, match="already registered"):
        register_backend("histogram", make_backend(dim=8))
    assert get_backend("histogram").record.value == "orion_core.backends.histogram"
