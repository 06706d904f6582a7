"""`orion weights verify DIR`: catch a broken or mismatched checkpoint before a run, not during it."""

from __future__ import annotations

import click


@click.group()
def weights() -> None:
    """Check downloaded model weights before a run."""


@weights.command()
@click.argument("path", metavar="DIR")
@click.option("--backend", default=None, help="The backend you mean to run it with; inferred when omitted.")
def verify(path: str, backend: str | None) -> None:
    """Check a checkpoint folder (or a DINOv3 .pth / mobilenetv2 .pt file) without loading a model.

    Checks the layout, config.json, the tensor headers and shapes against the config, and that no
    file is truncated; prints the family, dims, parameter count and the `orion run` line to use.
    Exits 2 with one line saying what to fix otherwise.
    """
    from ..hf import RANDOM_WARNING, random_weights
    from ..weights import verify_checkpoint

    for line in verify_checkpoint(path, backend=backend).lines():
        click.echo(line)
    if random_weights(path):  # shapes are right, so only its config.json marker tells
        click.echo(f"WARNING: {RANDOM_WARNING.format(path=path)}", err=True)
