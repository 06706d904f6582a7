"""Camera motion compensation on a panning camera: synthetic scenes re-shot with a swinging pan.

    python benchmarks/cmc_pan.py [--seeds 0-4] [--backend histogram,motion] [--amplitude 60] [--period 30]
        [--still 0] [--modes off,auto]

Each seed's `orion_core.synthetic.make_scene` video is re-shot by a camera that swings left and
right: frame t is shifted by `amplitude * sin(2 pi t / period)` pixels (cv2.warpAffine, mirrored
border; with `--still N` the camera stands still for the first N frames and then swings, which
is the case where `auto`'s still-camera probing answers up to 0.5 s late), and det.txt / gt.txt move with it (rows whose box is less than 25% inside the frame are
dropped, the rest clipped). Orion runs on the panned video with `tracking.cmc` off and auto; IDF1,
HOTA and IDSW come from `orion_core.evaluate.evaluate_mot`. Until the synthetic generator itself
pans (issue 10), this is the moving-camera case.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from orion_core.bench import run_orion
from orion_core.evaluate import evaluate_mot


STILL = 0  # frames before the camera starts to swing (--still)


def shift(t: int, amplitude: float, period: float) -> float:
    return float(amplitude * np.sin(2 * np.pi * (t - STILL) / period)) if t >= STILL else 0.0


def pan_rows(src: Path, dst: Path, width: int, height: int, amplitude: float, period: float) -> None:
    """MOT rows (frame 1-based) moved by the camera; boxes mostly outside the frame dropped."""
    out = []
    for line in src.read_text().splitlines():
        parts = line.split(",")
        frame = int(float(parts[0]))
        x, y, w, h = (float(v) for v in parts[2:6])
        x += shift(frame - 1, amplitude, period)
        x0, x1 = max(x, 0.0), min(x + w, float(width))
        if w <= 0 or (x1 - x0) < 0.25 * w:
            continue
        parts[2], parts[4] = f"{x0:.2f}", f"{x1 - x0:.2f}"
        out.append(",".join(parts))
    dst.write_text("\n".join(out) + "\n")


def panned_scene(seed: int, out: Path, amplitude: float, period: float):
    import cv2

    from orion_core.synthetic import make_scene
    from orion_core.video import VideoWriter, open_video

    scene = make_scene(out / f"scene-{seed}", seed=seed)
    width, height = scene.size
    video = out / f"pan-{seed}.mp4"
    writer = VideoWriter(video, scene.fps)
    source = open_video(scene.video_path)
    try:
        for frame in source:
            matrix = np.float32([[1, 0, shift(frame.index, amplitude, period)], [0, 1, 0]])
            writer.write(cv2.warpAffine(frame.image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT))
    finally:
        source.close()
    writer.close()
    det, gt = out / f"pan-{seed}-det.txt", out / f"pan-{seed}-gt.txt"
    pan_rows(scene.det_path, det, width, height, amplitude, period)
    pan_rows(scene.gt_path, gt, width, height, amplitude, period)
    return video, det, gt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--backend", default="histogram,motion")
    parser.add_argument("--amplitude", type=float, default=60.0, help="pan amplitude, pixels (default 60)")
    parser.add_argument("--period", type=float, default=30.0, help="pan period, frames (default 30)")
    parser.add_argument("--still", type=int, default=0, help="frames of still camera before the pan (default 0)")
    parser.add_argument("--modes", default="off,auto", help="tracking.cmc modes to compare (default off,auto)")
    parser.add_argument("--out", default="runs/bench-cmc-pan")
    args = parser.parse_args()
    global STILL
    STILL = args.still
    first, _, last = args.seeds.partition("-")
    seeds = range(int(first), int(last or first) + 1)
    out = Path(args.out)
    totals: dict[tuple[str, str], list] = {}
    for seed in seeds:
        video, det, gt = panned_scene(seed, out, args.amplitude, args.period)
        for backend in args.backend.split(","):
            for cmc in args.modes.split(","):
                name = f"{backend}-cmc-{cmc}"
                run = run_orion(video, det, out / f"runs-{seed}", name, backend=None if backend == "motion" else backend,
                                appearance=backend != "motion", overrides={"tracking": {"cmc": cmc}})
                scores = evaluate_mot(gt, run.tracks)
                totals.setdefault((backend, cmc), []).append((scores["IDF1"], scores["HOTA"], scores["IDSW"]))
                print(f"seed {seed} {name}: IDF1 {scores['IDF1']:.1f} HOTA {scores['HOTA']:.1f} IDSW {scores['IDSW']}", flush=True)
    print("| method | cmc | IDF1 | HOTA | IDSW |\n|---|---|---|---|---|")
    for (backend, cmc), rows in totals.items():
        idf1, hota, idsw = np.array(rows, dtype=float).T
        method = "motion-only" if backend == "motion" else backend
        print(f"| {method} | {cmc} | {idf1.mean():.1f} | {hota.mean():.1f} | {int(idsw.sum())} |")


if __name__ == "__main__":
    main()
