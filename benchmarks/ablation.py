"""Ablation: each identity feature on/off, on PETS09 frames 1-400 and on the synthetic hard cases.

    python benchmarks/ablation.py [--pets ../shared/data/pets09-s2l1] [--scenes reentry,lookalikes,crowd,pan]
        [--fps 7,25] [--seeds 0-1] [--backends histogram,motion] [--rows all] [--markdown]

A row is a name and a config override (`ROWS` below); every row runs on every scene with every
backend (`motion` = `--no-appearance`) and prints HOTA / IDF1 (and, on scenes with a scripted
re-entry, how many re-entries kept their id). To ablate a new switch, append a row to `ROWS`
(or pass `--row 'name={"tracking": {"cmc": false}}'`): nothing else changes.

Scenes:
* `pets`: PETS09-S2L1 frames 1-400 with the public detections (7 fps; ground truth
  gt-frames-001-400.txt; 401-795 are held out and never run here), scored twice: against the
  published ground truth and, as column "PETS 1-400 people", against the person-level copy in
  which the two people who leave and come back keep their id (`pets.py`'s `RETURNS`);
* synthetic (orion_core.synthetic, exact ground truth, 10 s each, rendered at every `--fps` so a
  default that only works at one frame rate shows): `reentry` (the default scene: an exit and a
  return from the other side, a crossing), `lookalikes` (plus two objects wearing the same texture
  crossing at the same depth), `crowd` (14 objects), `pan` (the default scene seen by a panning,
  1.5x zoomed camera); on request only, `dense` (24 objects, the generator's most: the crowd in
  which mobilenetv2 falls below Orion's own motion-only IDF1, as on the issue's real crowded street).
Synthetic numbers are means over seeds; `kept` is summed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from orion_core.bench import format_table, load_script, markdown_table, run_orion, score_reentries
from orion_core.evaluate import evaluate_mot, read_mot_file

MOTION = "motion"
SECONDS = 10.0  # synthetic clip length: the same events at every frame rate

# (row name, config override). Order matters only for the table.
ROWS: list[tuple[str, dict]] = [
    ("online, detection boxes (before issue 10)", {"tracking": {"offline": False, "report_state": False}}),
    ("online, filtered boxes (item 9)", {"tracking": {"offline": False}}),
    ("offline pass (default)", {}),
    ("offline without smoothing", {"tracking": {"offline_smooth": False}}),
    ("offline without gap filling", {"tracking": {"offline_interpolate_s": 0.0}}),
    ("gap filling without the evidence rule (every entity)", {"tracking": {"offline_interpolate_min_run": 0}}),
    ("offline without linking", {"tracking": {"offline_link": False}}),
    ("offline keeping unsupported entities", {"tracking": {"offline_drop_unsupported": False}}),
    ("offline keeping unsupported starts and ends", {"tracking": {"offline_trim_unsupported": False}}),
    ("offline without tentative starts (backfill)", {"tracking": {"offline_backfill": False}}),
    ("gap filling through exits and returns at the border", {"tracking": {"offline_interpolate_exits": True}}),
    # issue 10's other items, one switch each from the default (item 5, clips, needs an encode_clips
    # backend; item 6, thumbnails, is not a tracking metric)
    ("no per-video calibration (item 1)", {"tracking": {"calibrate": False}}),
    ("review fixes off (item 3: keep_displaced, covered crops, recovery growth, one cost scale)",
     {"tracking": {"keep_displaced": False, "gallery_max_overlap": 1.0, "recovery_growth": 0.0,
                   "impute_missing_appearance": False}}),
    ("no camera motion compensation (item 4)", {"tracking": {"cmc": "off"}}),
    ("no memory speed limit", {"memory": {"speed_limit": False}}),
    ("recovery without the track's confuser", {"tracking": {"recovery_confusers": False}}),
    ("memory claims without rivals", {"memory": {"rivals": False}}),
    ("Kalman noise per frame, not per second", {"tracking": {"kalman_noise_fps": 0}}),
    ("end duplicate tracks (off by default)", {"tracking": {"duplicate_s": 1.0}}),
    ("crops covered by other tracks' predictions kept out of galleries (off by default)",
     {"tracking": {"cover_by_tracks": True}}),
    ("everything of issue 10 off (main before it)",
     {"tracking": {"offline": False, "report_state": False, "calibrate": False, "keep_displaced": False,
                   "gallery_max_overlap": 1.0, "recovery_growth": 0.0, "impute_missing_appearance": False,
                   "cmc": "off", "recovery_confusers": False},
      "memory": {"rivals": False}}),
]

SCENES: dict[str, dict[str, Any]] = {
    "reentry": {},
    "lookalikes": {"n_objects": 6, "lookalikes": True},
    "crowd": {"n_objects": 14},
    "pan": {"camera": "pan"},
    "dense": {"n_objects": 24},  # not in the default --scenes: older tables stay comparable
}


def make_scenes(names: list[str], fps_list: list[float], seeds: list[int], out: Path) -> list[dict]:
    from orion_core.synthetic import make_scene

    scenes = []
    for name in names:
        for fps in fps_list:
            for seed in seeds:
                info = make_scene(out / f"{name}-{fps:g}fps-{seed}", seed=seed, fps=fps,
                                  frames=max(30, round(SECONDS * fps)), **SCENES[name])
                scenes.append({"scene": f"{name} {fps:g}fps", "video": info.video_path, "det": info.det_path,
                               "gt": info.gt_path, "reentries": info.reentries, "frames": None, "label": "object", "fps": fps})
    return scenes


PEOPLE = "PETS 1-400 people"  # the PETS column scored on the person-level ground truth


def pets_scene(data: Path, out: Path) -> dict:
    pets = load_script(Path(__file__).with_name("pets.py"))
    gt = data / "gt-frames-001-400.txt"
    return {"scene": "PETS 1-400", "video": data / "vtest.avi", "det": data / "det.txt", "gt": gt,
            "person_gt": pets.person_ground_truth(gt, out / "gt-person.txt") if gt.is_file() else None,
            "reentries": [], "frames": 400, "label": "person"}


# The run a replay starts from: the pass on, every part of it off, so its tracks.jsonl holds the
# online rows plus the tentative starts the pass may add (marked "backfilled"), nothing changed.
PASS_THROUGH = {"offline": True, "offline_smooth": False, "offline_interpolate_s": 0.0, "offline_link": False,
                "offline_drop_unsupported": False, "offline_trim_unsupported": False}


def offline_only(override: dict) -> bool:
    """True when a row changes nothing but the offline pass: it can be replayed on a `PASS_THROUGH` run."""
    return set(override) <= {"tracking"} and all(key.startswith("offline") for key in override.get("tracking", {}))


def camera_moved(episode: Path) -> bool:
    """The run compensated camera motion: its warps are not in the episode's files, and the pass
    works in the scene's coordinates with them, so a replay could not match; run those in full."""
    return bool(json.loads((episode / "run.json").read_text())["tracker"].get("camera_compensated_frames"))


def replay_offline(online_episode: Path, override: dict, out: Path) -> Path:
    """The offline pass with `override` on a finished `PASS_THROUGH` episode; returns its tracks.txt.

    The pass sees what it sees inside a run (the online rows with their detections, the
    embeddings, every processed frame), so the result is the same as a full run's, without
    embedding the video again: how slow backends get several rows on a 2-core machine.
    """
    import numpy as np

    from orion_core.config import TrackingConfig
    from orion_core.outputs import mot_line
    from orion_core.tracking.offline import OfflineSettings, read_observations, run_pass

    run = json.loads((online_episode / "run.json").read_text())
    tracking = TrackingConfig(**{**{k: v for k, v in run["config"]["tracking"].items() if k not in PASS_THROUGH},
                                 **override.get("tracking", {})})
    obs = read_observations(online_episode / "tracks.jsonl")
    embeddings = np.load(online_episode / "embeddings.npy", mmap_mode="r") if tracking.appearance else None
    if embeddings is not None and embeddings.shape[1] == 0:
        embeddings = None
    frames = np.arange(1, run["counts"]["frames"] + 1)  # no --fps sampling in these runs: every frame
    seconds_per_frame = (obs.time_s[-1] - obs.time_s[0]) / max(obs.frame[-1] - obs.frame[0], 1)
    settings = OfflineSettings.from_config(tracking, reid_prior=run["config"]["memory"]["reid_threshold"])
    video = run["video"]
    result = run_pass(obs, embeddings, settings, frames, (frames - 1) * seconds_per_frame, (video["width"], video["height"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = result.rows
    with open(out, "w", encoding="utf-8") as handle:
        for i in range(len(rows)):
            handle.write(mot_line(int(rows.frame[i]), int(rows.entity[i]), rows.box[i], float(rows.conf[i])))
    return out


def run_row(scene: dict, backend: str, row: str, override: dict, out: Path, online: Path | None = None) -> dict:
    """One row on one scene; with `online` (a `PASS_THROUGH` episode of this scene and backend) an
    offline-only row is replayed on it instead of run again."""
    episode = f"{Path(scene['video']).parent.name}-{backend}-{ROW_IDS[row]}"
    started = time.perf_counter()
    if online is not None and offline_only(override) and not camera_moved(online):
        tracks = replay_offline(online, override, out / episode / "tracks.txt")
    else:
        tracks = run_orion(scene["video"], scene["det"], out, episode, backend=None if backend == MOTION else backend,
                           appearance=backend != MOTION, max_frames=scene["frames"], label=scene["label"],
                           overrides=override).tracks
    run = SimpleNamespace(tracks=tracks)
    frames = (1, scene["frames"]) if scene["frames"] else None
    scores = evaluate_mot(scene["gt"], run.tracks, frames=frames)
    kept = None
    if scene["reentries"]:
        outcomes = score_reentries(read_mot_file(scene["gt"], "gt"), read_mot_file(run.tracks, "pred"), scene["reentries"],
                                   fps=scene.get("fps"))
        kept = (sum(o.kept for o in outcomes), len(outcomes))
    result = {"scene": scene["scene"], "backend": backend, "row": row, "HOTA": scores["HOTA"], "IDF1": scores["IDF1"],
              "MOTA": scores["MOTA"], "IDSW": scores["IDSW"], "kept": kept, "seconds": time.perf_counter() - started}
    if scene.get("person_gt"):
        person = evaluate_mot(scene["person_gt"], run.tracks, frames=frames)
        result["person"] = {"scene": PEOPLE, "HOTA": person["HOTA"], "IDF1": person["IDF1"], "MOTA": person["MOTA"],
                            "IDSW": person["IDSW"]}
    return result


def summarise(results: list[dict], backend: str, rows: list[str], scenes: list[str]) -> tuple[list[dict], list[tuple]]:
    """One table row per feature row: 'HOTA / IDF1' per scene (means over seeds), kept summed."""
    table = []
    for row in rows:
        line: dict[str, Any] = {"row": row}
        for scene in scenes:
            mine = [r for r in results if r["backend"] == backend and r["row"] == row and r["scene"] == scene]
            if not mine:
                continue
            hota = sum(r["HOTA"] for r in mine) / len(mine)
            idf1 = sum(r["IDF1"] for r in mine) / len(mine)
            text = f"{hota:.1f} / {idf1:.1f}"
            kept = [r["kept"] for r in mine if r["kept"] is not None]
            if kept:
                text += f" ({sum(k for k, _ in kept)}/{sum(n for _, n in kept)})"
            line[scene] = text
        table.append(line)
    columns = [("row", "row", "{}")] + [(scene, scene, "{}") for scene in scenes]
    return table, columns


def _range(text: str) -> list[int]:
    first, last = (int(p) for p in text.split("-")) if "-" in text else (int(text), int(text))
    return list(range(first, last + 1))


ROW_IDS: dict[str, str] = {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ablation of Orion's identity features (HOTA / IDF1 per row).")
    parser.add_argument("--pets", default="", help="PETS09-S2L1 folder (vtest.avi, det.txt, gt-frames-001-400.txt); '' for none")
    parser.add_argument("--scenes", default="reentry,lookalikes,crowd,pan", help="Synthetic scenes ('' for none)")
    parser.add_argument("--fps", default="7,25", help="Frame rates to render the synthetic scenes at")
    parser.add_argument("--seeds", default="0-1", help="Synthetic seeds, A-B")
    parser.add_argument("--backends", default=f"histogram,{MOTION}", help=f"Backends; '{MOTION}' = motion-only")
    parser.add_argument("--rows", default="all", help="Rows of ROWS to run, by name (comma separated), 'all' or 'none'")
    parser.add_argument("--row", action="append", default=[], help='Extra row: NAME={"section": {"key": value}}')
    parser.add_argument("--replay", default="", help="Backends whose offline-only rows are replayed on one online run "
                        "(same numbers, one embedding pass: for slow backends on a CPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-ablation"))
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    rows = list(ROWS)
    if args.rows != "all":
        wanted = [r.strip() for r in args.rows.split(",")]
        rows = [r for r in rows if r[0] in wanted]
    for extra in args.row:  # always kept
        name, _, text = extra.partition("=")
        rows.append((name.strip(), json.loads(text)))
    ROW_IDS.update({name: f"r{i}" for i, (name, _) in enumerate(rows)})
    scenes = []
    names = [s.strip() for s in args.scenes.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SCENES))
    if unknown:  # before any work, PETS's included
        parser.error(f"unknown scene(s) {', '.join(unknown)}: choose from {', '.join(SCENES)}")
    if args.pets.strip():
        scenes.append(pets_scene(Path(args.pets), args.out))
    fps_list = [float(f) for f in args.fps.split(",") if f.strip()]
    scenes += make_scenes(names, fps_list, _range(args.seeds), args.out / "scenes")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    replay = {b.strip() for b in args.replay.split(",") if b.strip()}
    results = []
    for backend in backends:
        for scene in scenes:
            online = None
            if backend in replay:
                base = f"{Path(scene['video']).parent.name}-{backend}-online"
                online = run_orion(scene["video"], scene["det"], args.out / "runs", base,
                                   backend=None if backend == MOTION else backend, appearance=backend != MOTION,
                                   max_frames=scene["frames"], label=scene["label"],
                                   overrides={"tracking": dict(PASS_THROUGH)}).tracks.parent
            for name, override in rows:
                result = run_row(scene, backend, name, override, args.out / "runs", online)
                results.append(result)
                print(f"{backend:12s} {scene['scene']:14s} {name:45s} HOTA {result['HOTA']:5.1f} IDF1 {result['IDF1']:5.1f} "
                      f"MOTA {result['MOTA']:5.1f} IDSW {result['IDSW']:3d} kept {result['kept']}", file=sys.stderr, flush=True)
    scene_names = list(dict.fromkeys(s["scene"] for s in scenes))
    if any("person" in r for r in results):  # the person-level PETS scores, as a column of their own
        scene_names.insert(scene_names.index("PETS 1-400") + 1, PEOPLE)
        results += [{**r, **r["person"], "kept": None} for r in results if "person" in r]
    for backend in backends:
        table, columns = summarise(results, backend, [r[0] for r in rows], scene_names)
        print(f"\n{'motion-only' if backend == MOTION else backend}: HOTA / IDF1 (re-entries kept)")
        print(markdown_table(table, columns) if args.markdown else format_table(table, columns))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
