"""Every distribution shares one version, plugins pin the core exactly, wheels carry their entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the check itself is version-independent

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())


def project(path: Path) -> dict:
    return tomllib.loads((path / "pyproject.toml").read_text())["project"]


def test_one_version_and_exact_core_pins():
    core = project(ROOT)
    import orion_core

    assert core["version"] == orion_core.__version__
    assert core["version"] != "0.1.0"  # orion-core 0.1.0 on PyPI is someone else's project
    assert {p.name for p in PLUGINS} >= {"orion-dinov2", "orion-dinov3", "orion-vjepa2"}
    for plugin in PLUGINS:
        meta = project(plugin)
        assert meta["version"] == core["version"], plugin.name
        assert f"orion-core=={core['version']}" in meta["dependencies"], f"{plugin.name} must pin orion-core exactly"
        (name,) = meta["entry-points"]["orion.backends"]
        assert plugin.name == f"orion-{name}"


@pytest.mark.parametrize("path", [ROOT, *PLUGINS], ids=lambda p: p.name)
def test_wheel_has_entry_points(path, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(path)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = archive.read(entry_points).decode()
        metadata = archive.read(entry_points.replace("entry_points.txt", "METADATA")).decode()
    assert "[orion.backends]" in text
    if path == ROOT:
        assert "histogram = orion_core.backends.histogram" in text and "orion = orion_core.cli:main" in text
    else:
        assert "Requires-Dist: orion-core==0.2.0" in metadata
