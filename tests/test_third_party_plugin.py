"""A real third-party package, pip-installed into this environment, is found through its entry point.

This is the path a plugin author's users take: no `pm.register`, no import by the core.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def installed_plugins():
    pip("install", "--no-deps", "--no-build-isolation", str(FIXTURES / "orion-example-plugin"), str(FIXTURES / "orion-broken-plugin"))
    try:
        yield
    finally:
        pip("uninstall", "-y", "orion-example-plugin", "orion-broken-plugin")


def orion(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orion_core", *args], capture_output=True, text=True, env=None)


def test_third_party_backend_is_listed_and_usable(installed_plugins):
    result = orion("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["example"]["status"] == "ok"
    assert rows["example"]["distribution"] == "orion-example-plugin"
    assert rows["example"]["embedding_dim"] == 12
    assert rows["example"]["hooks"] == ["embedding_dim", "encode_batch", "load_embedder"]
    check = subprocess.run(
        [sys.executable, "-c", "from orion_core.testing import check_backend; print(check_backend('example')['dim'])"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "12"


def test_broken_package_is_reported_and_everything_else_works(installed_plugins):
    result = orion("plugins", "--json")
    assert result.returncode == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "ImportError: orion_broken needs libnothing" in rows["broken"]["status"]
    assert rows["histogram"]["status"] == "ok" and rows["example"]["status"] == "ok"
    assert "Traceback" not in result.stderr


def test_strict_mode_fails_on_the_broken_package(installed_plugins, monkeypatch):
    monkeypatch.setenv("ORION_STRICT_PLUGINS", "1")
    result = subprocess.run(
        [sys.executable, "-c", "from orion_core import EmbeddingConfig; EmbeddingConfig(backend='histogram')"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "ORION_STRICT_PLUGINS" in result.stderr
