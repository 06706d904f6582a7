"""Helpers for the issue-9 trust tests: a tiny video + detections, the CLI in-process, and fake
installed distributions (real `.dist-info` folders, found through `importlib.metadata` like pip's)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from orion_core.cli import main
from orion_core.video import VideoWriter

SIZE = (64, 96)  # height, width
FRAMES = 8
BOX = (20, 30)  # width, height of the moving block


def frame(i: int) -> np.ndarray:
    """A grey frame with one bright block moving right, so a track gets confirmed."""
    image = np.full((*SIZE, 3), 60, np.uint8)
    x = 10 + 3 * i
    image[10 : 10 + BOX[1], x : x + BOX[0]] = (220, 120, 40)
    return image


def write_inputs(root: Path) -> tuple[Path, Path]:
    """(video, det.txt): FRAMES frames, one detection per frame on the block."""
    root.mkdir(parents=True, exist_ok=True)
    video = root / "v.mp4"
    with VideoWriter(video, 10.0) as writer:
        for i in range(FRAMES):
            writer.write(frame(i))
    det = root / "det.txt"
    det.write_text("".join(f"{i + 1},-1,{10 + 3 * i},10,{BOX[0]},{BOX[1]},0.9,-1,-1,-1\n" for i in range(FRAMES)))
    return video, det


def orion(argv: list, capsys) -> tuple[int, str, str]:
    """The real console entry point in-process: (exit code, stdout, stderr)."""
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str, *words: str) -> str:
    """Exactly one non-empty stderr line, `Error: ...`, containing every word; no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def fake_distribution(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Install `dist` into the folder `site` (to be put on sys.path / PYTHONPATH) with
    `[orion.backends]` entry points {backend name: module} and module sources {module: code}."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points.items())
    (info / "entry_points.txt").write_text(f"[orion.backends]\n{lines}")


def orion_subprocess(site: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m orion_core ARGS` with the fake distributions of `site` installed."""
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join([str(site), environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "orion_core", *map(str, args)], capture_output=True, text=True, env=environ, timeout=300
    )


GOOD_PLUGIN = """
    import numpy as np
    from orion_core import hookimpl

    @hookimpl
    def embedding_dim(config):
        return 4

    @hookimpl
    def load_embedder(config):
        return None

    @hookimpl
    def encode_batch(embedder, images):
        return np.ones((len(images), 4), dtype=np.float32)
"""
