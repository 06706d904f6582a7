"""`orion bench`: throughput of the Orion embedding stage against the raw model (logic: orion_core.bench)."""

from __future__ import annotations

import click

from ..errors import ConfigError, quote


def _ints(text: str, option: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} {quote(text)}: expected whole numbers separated by commas, e.g. {option} 2,8,32") from None
    if not values or any(v < 1 for v in values):
        raise ConfigError(f"{option} {quote(text)}: expected positive whole numbers separated by commas, e.g. {option} 2,8,32")
    return values


def _words(text: str, allowed: tuple[str, ...], option: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise ConfigError(f"{option} {quote(text)}: use one or more of {', '.join(allowed)}, separated by commas")
    return values


def _frame_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--frame-size {quote(text)}: expected WIDTHxHEIGHT, e.g. --frame-size 768x576") from None
    if width < 32 or height < 32:
        raise ConfigError(f"--frame-size {quote(text)}: frames must be at least 32x32 pixels")
    return width, height


@click.group()
def bench() -> None:
    """Benchmarks (tracking-quality benchmarks live in benchmarks/ and take the data's path)."""


@bench.command("embed", short_help="Embedding stage vs raw model forward: items/s and their ratio.")
@click.option("--backend", default="histogram", show_default=True, help="Embedding backend (see `orion plugins`).")
@click.option("--model", help="Hub id for the backend.")
@click.option("--weights", help="Local weights folder (e.g. from benchmarks/make_random_checkpoint.py).")
@click.option("--pooling", default="crop,region", show_default=True,
              help="Which embed_boxes modes to time: crop, region, or both (comma separated).")
@click.option("--batch-size", default="32", show_default=True, help="Batch size(s), comma separated, e.g. 64,256.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or mps.")
@click.option("--precision", default="auto", show_default=True, help="auto, fp32, fp16, bf16 (comma separated for several).")
@click.option("--items", default=32, show_default=True, type=int, help="Crops (encode) or boxes (crop/region) per timed pass.")
@click.option("--boxes-per-frame", default="8", show_default=True, help="Boxes per synthetic frame for embed_boxes.")
@click.option("--frame-size", default="768x576", show_default=True, help="Synthetic frame size WIDTHxHEIGHT.")
@click.option("--repeats", default=3, show_default=True, type=int, help="Timed passes (the median is reported).")
@click.option("--warmup", default=1, show_default=True, type=int, help="Untimed passes first.")
@click.option("--threads", type=int, help="torch CPU threads [default: usable cores minus one].")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option("--no-encode", is_flag=True, help="Skip the plain VisualEmbedder.encode(crops) row.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
def embed(backend: str, model: str | None, weights: str | None, pooling: str, batch_size: str, device: str,
          precision: str, items: int, boxes_per_frame: str, frame_size: str, repeats: int, warmup: int,
          threads: int | None, quiet: bool, no_encode: bool, as_json: bool) -> None:
    """Items/s of the Orion embedding stage vs the raw model forward on the same inputs, and their ratio.

    Raw baseline: the backend embedder's forward(prepare(crops)) [or prepare_frames(frames)] when it
    offers them (pure model cost), else the plugin's encode_batch / encode_feature_maps hook called
    directly (then the ratio is the core's own overhead). Median of --repeats after --warmup passes,
    Orion and raw passes alternating.
    """
    import json
    import sys

    from .progress import RunProgress
    from ..bench import EMBED_COLUMNS, bench_embed, format_table
    from ..device import PRECISIONS

    if items < 1 or repeats < 1 or warmup < 0 or (threads is not None and threads < 1):
        raise ConfigError("--items, --repeats and --threads must be >= 1 and --warmup >= 0")
    progress = RunProgress(sys.stderr, quiet=quiet, unit="pass")
    modes = ([] if no_encode else ["encode"]) + _words(pooling, ("crop", "region"), "--pooling")
    rows = bench_embed(
        backend,
        model=model,
        weights=weights,
        modes=modes,
        batch_sizes=_ints(batch_size, "--batch-size"),
        device=device,
        precisions=_words(precision, PRECISIONS, "--precision"),
        items=items,
        boxes_per_frame=_ints(boxes_per_frame, "--boxes-per-frame"),
        frame_size=_frame_size(frame_size),
        repeats=repeats,
        warmup=warmup,
        threads=threads,
        report=lambda message: click.echo(f"note: {message}", err=True),
        progress=progress,
    )
    progress.done()
    data = [r.to_dict() for r in rows]
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    if data:
        click.echo(f"model: {data[0]['model']}")
    click.echo(format_table(data, EMBED_COLUMNS))
    click.echo("ratio = Orion items/s / raw items/s (1.0 = no overhead over the model); "
               "items = crops (encode) or boxes (crop, region); k = boxes per frame")
