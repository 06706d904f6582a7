"""`orion run PATH [PATH ...]`: the main job. Options override the YAML file, which overrides the preset.

One video runs exactly as it always did. Several (or a folder, or a .txt list) run as a corpus:
see orion_core/corpus.
"""

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
        "tracking": {"appearance": False if opts["no_appearance"] else None, "offline": False if opts["online"] else None},
        "memory": {"reid_threshold": opts["reid_threshold"], "enabled": False if opts["no_memory"] else None},
        "output": {"out_dir": opts["out"], "episode": opts["episode"], "save_video": True if opts["save_video"] else None},
    }


@contextlib.contextmanager
def _sigterm_as_interrupt(sigint: bool = False) -> Iterator[None]:
    """SIGTERM, SIGHUP (terminal closed) and SIGQUIT stop a run like Ctrl-C: staging files are
    removed, nothing looks complete, the previous result stays.

    `sigint`: Ctrl-C too, remembered, so that the engine still stops when a library swallowed the
    KeyboardInterrupt (`signals.check_interrupted`); only where Python's own handler is in place
    (an ignored SIGINT stays ignored, a host application's handler stays). The previous handlers
    come back afterwards, so calling the command in-process (tests, notebooks) leaves the host's
    signal handling as it was.
    """
    from ..signals import interrupts_remembered

    names = ("SIGTERM", "SIGHUP", "SIGQUIT")
    if sigint and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        names += ("SIGINT",)
    with interrupts_remembered(names):
        yield


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--backend", "--embedding-backend", "backend", help="Embedding backend (see `orion plugins`) [default: the strongest whose weights are here].")
@click.option("--model", help="Hub id for the backend, e.g. facebook/dinov2-small.")
@click.option("--weights", "--dinov3-weights", "weights", help="Local weights folder (or file) for the backend.")
@click.option("--preset", help="Preset: dinov2, dinov3, vjepa2, mobilenetv2, histogram.")
@click.option("--config", "config_file", help="YAML config file (perception: {...}).")
@click.option("--detector", type=click.Choice(["yolo", "mot", "motion"]), help="Detector [default: yolo; mot if --detections].")
@click.option("--detector-model", help="YOLO weights: a local .pt path or a name ultralytics knows.")
@click.option("--detections", help="MOTChallenge det.txt for --detector mot; for several videos a folder of <stem>.txt or <stem>/det/det.txt.")
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
@click.option("--online", is_flag=True, help="Skip the offline pass at the end (smoothing, gap filling, tracklet linking).")
@click.option("--episode", help="Output subfolder name [default: the video's file name stem].")
@click.option("--out", help="Output folder [default: runs].")
@click.option("--save-video", is_flag=True, help="Also write annotated.mp4.")
@click.option("--recursive", is_flag=True, help="Several videos: also take the videos in subfolders of a PATH folder.")
@click.option("--workers", help="Several videos: videos processed at once, or 'auto' [default: 1; ray: the cluster's CPUs].")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Several videos: this machine, or a Ray cluster (pip install 'orion-core[ray]').")
@click.option("--ray-address", help="Ray cluster to join, e.g. ray://head:10001 [default: start a local Ray instance].")
@click.option("--force", is_flag=True, help="Several videos: redo episodes that are already complete.")
@click.option("--embed-policy", type=click.Choice(["all", "on_demand"]),
              help="Embed every box, or only those motion cannot match beyond doubt "
                   "[default: the backend's suggestion (all for the cheap histogram), else on_demand].")
@click.option("--threads", type=click.IntRange(min=1), help="torch CPU threads [default: usable cores minus one].")
@click.option("-v", "--verbose", count=True, help="Log more (-v: settings and stage times, -vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def run(paths: tuple[str, ...], config_file: str | None, preset: str | None, verbose: int, quiet: bool, **opts) -> None:
    """Detect, embed, track and re-identify objects; write <out>/<episode>/.

    PATH is a video, a folder of videos or a .txt list of video paths (one per line, # comments).
    Several videos each become the episode named by their stem, listed in <out>/corpus.json;
    episodes already complete for the same video and config are skipped (--force redoes them).
    """
    import logging

    from . import exit_on_interrupt
    from .progress import RunProgress

    if verbose:
        logging.getLogger().setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    corpus_opts = {name: opts.pop(name) for name in ("recursive", "workers", "executor", "ray_address", "force")}
    with exit_on_interrupt():  # imports and plugin discovery: nothing is written yet
        from ..config import build_config
        from ..corpus.inputs import is_corpus
        from ..corpus.runner import parse_workers
        from ..engine import PerceptionEngine

        config = build_config(preset=preset, yaml_path=config_file, overrides=_overrides(opts))
        engine = PerceptionEngine(config)
    if is_corpus(list(paths)) or corpus_opts["executor"] == "ray" or corpus_opts["ray_address"]:
        from .corpus import run_corpus_command

        with _sigterm_as_interrupt():
            failed = run_corpus_command(engine, list(paths), **corpus_opts)
        if failed:
            click.get_current_context().exit(2)
        return
    parse_workers(corpus_opts["workers"])  # a typo is an error even where one video makes it moot
    video = paths[0]
    progress = RunProgress(sys.stderr, quiet=quiet)
    with _sigterm_as_interrupt(sigint=True):
        try:
            result = engine.process_video(video, progress=progress, inputs=(config_file,) if config_file else ())
        finally:
            progress.done()
    click.echo(summary_line(result.episode, result.counts))
    click.echo(f"outputs: {result.path}")


def summary_line(episode: str, counts: dict) -> str:
    """The one line `orion run` ends with; says what the offline pass left out, so a user who
    counts the people in the video is not left guessing where one went."""
    left_out = []
    dropped, trimmed = counts.get("dropped_entities", 0), counts.get("trimmed_rows", 0)
    if dropped:
        left_out.append(f"{dropped} unsupported {'entity' if dropped == 1 else 'entities'}")
    if trimmed:
        left_out.append(f"{trimmed} {'row' if trimmed == 1 else 'rows'} of unsupported starts/ends")
    return (f"{episode}: {counts['frames']} frames, {counts['observations']} observations, "
            f"{counts['tracks']} tracks -> {counts['entities']} entities ({counts['reidentified']} re-identified"
            + (f"; left out: {', '.join(left_out)}, see run.json offline)" if left_out else ")"))
