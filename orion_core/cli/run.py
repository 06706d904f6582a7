"""`orion run VIDEO`: the main job. Options override the YAML file, which overrides the preset."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator

import click


def _check_conflicts(opts: dict) -> None:
    """Options that only one detector reads must not be silently ignored by another."""
    from ..errors import ConfigError

    detector = opts["detector"] or ("mot" if opts["detections"] else None)
    if opts["detections"] and detector != "mot":
        raise ConfigError(f"--detections is read only by --detector mot, not --detector {detector}; drop one of the two")
    if opts["detector_model"] and detector not in (None, "yolo"):
        raise ConfigError(f"--detector-model is read only by --detector yolo, not --detector {detector}; drop one of the two")


def _overrides(opts: dict) -> dict:
    """Command-line options as a nested config dict; options not given are None and ignored."""
    _check_conflicts(opts)
    classes = [c.strip() for c in opts["classes"].split(",") if c.strip()] if opts["classes"] else None
    detector = opts["detector"] or ("mot" if opts["detections"] else None)
    return {
        "video": {"fps": opts["fps"], "max_frames": opts["max_frames"]},
        "detection": {
            "detector": detector,
            "model": opts["detector_model"],
            "detections": opts["detections"],
            "classes": classes,
            "confidence": opts["confidence"],
            "min_score": opts["min_score"],
            "label": opts["label"],
        },
        "embedding": {
            "backend": opts["backend"],
            "model": opts["model"],
            "weights_dir": opts["weights"],
            "pooling": opts["pooling"],
            "device": opts["device"],
            "precision": opts["precision"],
            "batch_size": opts["batch_size"],
            "policy": opts["embed_policy"],
            "threads": opts["threads"],
        },
        "tracking": {"appearance": False if opts["no_appearance"] else None},
        "memory": {"reid_threshold": opts["reid_threshold"], "enabled": False if opts["no_memory"] else None},
        "output": {"out_dir": opts["out"], "episode": opts["episode"], "save_video": True if opts["save_video"] else None},
    }


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C: staging files are removed, nothing looks complete.

    The previous handler comes back afterwards, so calling the command in-process (tests,
    notebooks) leaves the host's signal handling as it was.
    """

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread (e.g. embedded use)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command()
@click.argument("video", type=click.Path(dir_okay=True, path_type=str))
@click.option("--backend", help="Embedding backend (see `orion plugins`).")
@click.option("--model", help="Hub id for the backend, e.g. facebook/dinov2-small.")
@click.option("--weights", help="Local weights folder (or file) for the backend.")
@click.option("--preset", help="Preset: dinov2, dinov3, vjepa2, mobilenetv2, histogram.")
@click.option("--config", "config_file", help="YAML config file (perception: {...}).")
@click.option("--detector", type=click.Choice(["yolo", "mot", "motion"]), help="Detector [default: yolo; mot if --detections].")
@click.option("--detector-model", help="YOLO weights: a local .pt path or a name ultralytics knows.")
@click.option("--detections", help="MOTChallenge det.txt for --detector mot.")
@click.option("--classes", help="Keep only these classes, comma separated (e.g. person,car).")
@click.option("--confidence", type=float, help="YOLO confidence threshold.")
@click.option("--min-score", type=float, help="Drop precomputed detections below this score.")
@click.option("--label", help="Class name for mot/motion detections (default: object).")
@click.option("--pooling", type=click.Choice(["auto", "crop", "region"]), help="Crop each box, or pool whole-frame patch features.")
@click.option("--device", help="auto, cpu, cuda or mps.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "fp16", "bf16"]))
@click.option("--batch-size", type=int, help="Crops (or frames, for region pooling) per backend call.")
@click.option("--fps", type=float, help="Sample the video at this many frames per second.")
@click.option("--max-frames", type=int, help="Stop after this many frames.")
@click.option("--reid-threshold", type=float, help="Cosine similarity needed to re-identify a returning entity.")
@click.option("--no-appearance", is_flag=True, help="Motion-only tracking (no embeddings, no re-identification).")
@click.option("--no-memory", is_flag=True, help="Disable long-term re-identification (online tracker only).")
@click.option("--episode", help="Output subfolder name [default: the video's file name stem].")
@click.option("--out", help="Output folder [default: runs].")
@click.option("--save-video", is_flag=True, help="Also write annotated.mp4.")
@click.option("--embed-policy", type=click.Choice(["all", "on_demand"]),
              help="Embed every box, or only those motion cannot match beyond doubt "
                   "[default: the backend's suggestion (all for the cheap histogram), else on_demand].")
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads [default: usable cores minus one].")
@click.option("-v", "--verbose", count=True, help="Log more (-v: settings and stage times, -vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def run(video: str, config_file: str | None, preset: str | None, verbose: int, quiet: bool, **opts) -> None:
    """Detect, embed, track and re-identify objects in VIDEO; write <out>/<episode>/."""
    import logging

    from ..config import build_config
    from ..engine import PerceptionEngine
    from .progress import RunProgress

    if verbose:
        logging.getLogger().setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    config = build_config(preset=preset, yaml_path=config_file, overrides=_overrides(opts))
    engine = PerceptionEngine(config)
    progress = RunProgress(sys.stderr, quiet=quiet)
    with _sigterm_as_interrupt():
        try:
            result = engine.process_video(video, progress=progress)
        finally:
            progress.done()
    counts = result.counts
    click.echo(
        f"{result.episode}: {counts['frames']} frames, {counts['observations']} observations, "
        f"{counts['tracks']} tracks -> {counts['entities']} entities ({counts['reidentified']} re-identified)"
    )
    click.echo(f"outputs: {result.path}")
