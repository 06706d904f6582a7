"""`orion eval`: HOTA / CLEAR / Identity of one tracks file against MOTChallenge ground truth."""

from __future__ import annotations

import json

import click


@click.command("eval")
@click.option("--gt", "gt_path", required=True, metavar="GT.txt",
              help="Ground truth, MOT15 format: frame,id,left,top,w,h,considered,x,y,z.")
@click.option("--pred", "pred_path", required=True, metavar="TRACKS.txt",
              help="Tracker output, MOTChallenge format: frame,id,left,top,w,h,conf,-1,-1,-1.")
@click.option("--frames", "frame_range", default=None, metavar="A-B",
              help="Score only frames A..B (1-based, inclusive), e.g. 1-400 when the ground truth stops at 400.")
@click.option("--json", "as_json", is_flag=True, help="Print all numbers as JSON.")
def eval_cmd(gt_path: str, pred_path: str, frame_range: str | None, as_json: bool) -> None:
    """Score tracks against ground truth with TrackEval (IoU 0.5; HOTA sweeps its own thresholds).

    Ratios are percent (TrackEval's 0-1 values x 100). Ground-truth rows with considered=0 are
    ignored, as in the official MOT15 evaluation.
    """
    from ..evaluate import evaluate_mot, format_table, parse_frame_range

    frames = parse_frame_range(frame_range) if frame_range else None
    result = evaluate_mot(gt_path, pred_path, frames=frames)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for warning in result["warnings"]:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(format_table(result))
