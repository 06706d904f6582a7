"""Small, fast versions of the benchmarks, so they cannot rot: `orion bench embed`, the raw-baseline
convention, the re-entry scorer (hand-made rows and one tiny synthetic scene), and the random
checkpoint builder."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from orion_core import hookimpl
from orion_core.bench import bench_embed, frame_matches, score_reentries
from orion_core.bench import load_script as load_script_at  # the tests' load_script names a script, not a path
from orion_core.cli import main
from orion_core.evaluate import read_mot_file
from orion_core.plugins import register_backend, unregister_backend
from orion_core.synthetic import ReentryEvent

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> types.ModuleType:
    """A benchmarks/ script as a module (they are run by path, not installed)."""
    return load_script_at(ROOT / "benchmarks" / f"{name}.py")


def run_cli(capsys, *args: str) -> str:
    """`orion ARGS` in-process; main() returns on success and exits non-zero on errors."""
    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    return capsys.readouterr().out


# -- orion bench embed -------------------------------------------------------------------------
def test_bench_embed_histogram_prints_a_ratio_per_mode(capsys):
    out = run_cli(capsys, "bench", "embed", "--backend", "histogram", "--items", "16", "--frame-size", "192x144",
                  "--boxes-per-frame", "2,8,32", "--repeats", "1", "--json")
    rows = json.loads(out)
    assert [(r["mode"], r["boxes_per_frame"]) for r in rows] == [("encode", None), ("crop", 2), ("crop", 8), ("crop", 32)]
    assert [r["items"] for r in rows] == [16, 16, 16, 32]  # 16 boxes, except 1 frame x 32 boxes
    for r in rows:
        assert r["raw_baseline"] == "encode_batch"  # histogram has no prepare/forward
        assert r["ratio"] > 0 and r["orion_items_per_s"] > 0 and r["raw_items_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["orion_items_per_s"] / r["raw_items_per_s"], rel=1e-2)
    table = run_cli(capsys, "bench", "embed", "--backend", "histogram", "--items", "16", "--boxes-per-frame", "4",
                    "--frame-size", "192x144", "--repeats", "1")
    assert "ratio" in table.splitlines()[1] and len(table.splitlines()) == 5  # model line, header, 2 rows, legend


def test_bench_embed_bad_option_is_one_line_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["bench", "embed", "--backend", "histogram", "--boxes-per-frame", "2,x"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: --boxes-per-frame '2,x'") and len(err.strip().splitlines()) == 1


class ForwardModel:
    """An embedder object following the raw-baseline convention, recording what it is given."""

    def __init__(self) -> None:
        self.prepared: list[int] = []
        self.frames_prepared: list[int] = []
        self.forwarded: list[tuple[int, ...]] = []

    def prepare(self, images):
        self.prepared.append(len(images))
        return np.stack([np.asarray(i[:4, :4], np.float32) for i in images])

    def prepare_frames(self, frames):
        self.frames_prepared.append(len(frames))
        return np.stack([np.asarray(f[:4, :4], np.float32) for f in frames])

    def forward(self, batch):
        self.forwarded.append(batch.shape)
        return batch.mean(axis=(1, 2))


def forward_backend(model: ForwardModel) -> types.ModuleType:
    @hookimpl
    def embedding_dim(config):
        return 3

    @hookimpl
    def load_embedder(config):
        return model

    @hookimpl
    def encode_batch(embedder, images):
        return np.stack([i.mean(axis=(0, 1)) + 1.0 for i in images])

    @hookimpl
    def encode_feature_maps(embedder, frames):
        return np.stack([np.ones((3, 4, 5), np.float32) + f.mean() for f in frames])

    module = types.ModuleType("bench_forward_backend")
    module.__dict__.update(embedding_dim=embedding_dim, load_embedder=load_embedder, encode_batch=encode_batch,
                           encode_feature_maps=encode_feature_maps)
    return module


def test_raw_baseline_times_forward_on_prepared_inputs():
    model = ForwardModel()
    register_backend("bench-forward", forward_backend(model))
    try:
        rows = bench_embed("bench-forward", device="cpu", items=8, batch_sizes=(3,), boxes_per_frame=(4,),
                           frame_size=(96, 64), repeats=2, warmup=1)
    finally:
        unregister_backend("bench-forward")
    assert [(r.mode, r.items, r.frames) for r in rows] == [("encode", 8, None), ("crop", 8, 2), ("region", 8, 2)]
    assert {r.raw_baseline for r in rows} == {"forward"}
    # crops prepared once per batch of 3 before timing (encode: 8 crops, crop mode: 8 crops) ...
    assert model.prepared == [3, 3, 2, 3, 3, 2]
    # ... frames likewise (2 frames in one batch), and forward ran warm-up + repeats times per row
    assert model.frames_prepared == [2] and len(model.forwarded) == (1 + 2) * (3 + 3 + 1)
    assert all(r.ratio > 0 for r in rows)


def test_embedding_path_does_not_import_ultralytics():
    code = ("import sys, orion_core.bench as b; "
            "b.bench_embed('histogram', items=4, boxes_per_frame=(2,), frame_size=(96, 64), repeats=1, warmup=0); "
            "import orion_core.embedder, orion_core.hf; "
            "sys.exit(1 if 'ultralytics' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True).returncode == 0


# -- re-entry scoring on hand-made rows ----------------------------------------------------------
def write_rows(path: Path, rows: list[tuple]) -> Path:
    path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows), encoding="utf-8")
    return path


def gt_rows() -> list[tuple]:
    """Object 1: frames 1-5 on the right, away 6-9, back 10-14 on the left. Object 2 stays put."""
    rows = []
    for f in range(1, 15):
        if f <= 5:
            rows.append((f, 1, 300 + 5 * f, 50, 40, 80, 1, -1, -1, -1))
        elif f >= 10:
            rows.append((f, 1, 5 * f, 120, 40, 80, 1, -1, -1, -1))
        rows.append((f, 2, 150, 40, 40, 80, 1, -1, -1, -1))
    return rows


def pred_from(gt: list[tuple], ids) -> list[tuple]:
    """Predictions on the GT boxes (shifted 2 px), with `ids(frame, gt_id)` choosing the id (None = no box)."""
    out = []
    for f, i, x, y, w, h, *_ in gt:
        pid = ids(f, i)
        if pid is not None:
            out.append((f, pid, x + 2, y, w, h, 0.9, -1, -1, -1))
    return out


EVENT = ReentryEvent(object_id=1, left_frame=5, reentered_frame=10, exit_side="right", entry_side="left")


@pytest.mark.parametrize(
    "ids, old, new",
    [
        (lambda f, i: 7 if i == 1 else 3, 7, 7),  # same id throughout: kept
        (lambda f, i: (7 if f <= 5 else 9) if i == 1 else 3, 7, 9),  # new id after the gap: lost
        (lambda f, i: (7 if f <= 5 or f >= 12 else 9) if i == 1 else 3, 7, 7),  # new track for 2 frames, re-identified
        (lambda f, i: (7 if f <= 5 else None) if i == 1 else 3, 7, None),  # never tracked after return: lost
        (lambda f, i: None if i == 1 else 3, None, None),  # never tracked at all: lost
    ],
)
def test_reentry_outcome_from_per_frame_matching(tmp_path, ids, old, new):
    gt = read_mot_file(write_rows(tmp_path / "gt.txt", gt_rows()), "gt")
    pred = read_mot_file(write_rows(tmp_path / "pred.txt", pred_from(gt_rows(), ids)), "pred")
    (outcome,) = score_reentries(gt, pred, [EVENT])
    assert (outcome.old_id, outcome.new_id) == (old, new)
    assert outcome.kept == (old is not None and old == new)


def test_reentry_window_is_time_so_a_50_fps_return_is_judged_like_a_25_fps_one(tmp_path):
    """At 50 fps a half-visible returning object goes undetected for its first ~18 frames (0.36 s,
    measured on the synthetic reentry scene). A 15-frame window saw only those and scored every
    return as lost; the window is 0.6 s (15 frames at 25 fps, never fewer than 15)."""
    from orion_core.bench import reentry_window

    assert [reentry_window(f) for f in (None, 7, 15, 25, 30, 50, 60)] == [15, 15, 15, 15, 18, 30, 36]
    event = ReentryEvent(object_id=1, left_frame=20, reentered_frame=100, exit_side="right", entry_side="left")
    gt = [(f, 1, 10.0, 10.0, 20.0, 40.0, 1) for f in [*range(1, 21), *range(100, 160)]]
    # tracked as 7 before; after the return unmatched for 18 frames, then 7 again (re-identified)
    pred = [(f, 7, 10.0, 10.0, 20.0, 40.0, 0.9) for f in [*range(1, 21), *range(118, 160)]]
    gt_rows_ = read_mot_file(write_rows(tmp_path / "gt.txt", gt), "gt")
    pred_rows = read_mot_file(write_rows(tmp_path / "p.txt", pred), "pred")
    (by_frames,) = score_reentries(gt_rows_, pred_rows, [event], window=15)
    (by_time,) = score_reentries(gt_rows_, pred_rows, [event], fps=50)
    assert (by_frames.old_id, by_frames.new_id, by_frames.kept) == (7, None, False)
    assert (by_time.old_id, by_time.new_id, by_time.kept) == (7, 7, True)


def test_matching_is_one_to_one_and_needs_iou_half(tmp_path):
    gt = [(1, 1, 0, 0, 10, 10, 1), (1, 2, 8, 0, 10, 10, 1), (2, 1, 0, 0, 10, 10, 1), (2, 2, 1, 0, 10, 10, 1)]
    pred = [
        (1, 5, 7, 0, 10, 10, 1),  # on gt 2 (IoU 0.82)
        (1, 6, 4, 0, 10, 10, 1),  # between both (IoU 0.43 each): below 0.5, no match
        (2, 5, 0, 0, 10, 10, 1),  # exactly gt 1, and IoU 0.82 with gt 2: one box covers one object only
    ]
    gt_rows_ = read_mot_file(write_rows(tmp_path / "gt.txt", gt), "gt")
    pred_rows = read_mot_file(write_rows(tmp_path / "p.txt", pred), "pred")
    assert frame_matches(gt_rows_, pred_rows) == {(1, 2): 5, (2, 1): 5}


# -- the synthetic benchmark on one tiny scene -------------------------------------------------
def test_synthetic_reentry_benchmark_on_a_tiny_scene(tmp_path):
    bench = load_script("synthetic_reid")
    rows = bench.evaluate_seed(0, ["histogram", "motion"], tmp_path, frames=60, size=(192, 144))
    scene = json.loads((tmp_path / "scene-0" / "scene.json").read_text())
    assert len(scene["reentries"]) == 1
    by_method = {r["method"]: r for r in rows}
    assert set(by_method) == {"histogram", "motion-only"}
    for row in rows:
        (outcome,) = row["outcomes"]
        assert row["reentries"] == 1 and outcome["object_id"] == 1
        assert outcome["old_id"] is not None  # the object was tracked before it left
        assert 0 <= row["IDF1"] <= 100 and 0 <= row["HOTA"] <= 100
    # motion alone cannot link an exit on the right to an entry on the left
    assert by_method["motion-only"]["kept"] == 0
    summary = bench.summarise(rows + rows)
    assert [s["reentries"] for s in summary] == [2, 2]
    # the ground truth scored as a prediction keeps every re-entry: the scorer itself is sound
    gt = read_mot_file(tmp_path / "scene-0" / "gt.txt", "gt")
    events = [ReentryEvent(**{k: e[k] for k in ("object_id", "left_frame", "reentered_frame", "exit_side", "entry_side")})
              for e in scene["reentries"]]
    assert all(o.kept for o in score_reentries(gt, read_mot_file(tmp_path / "scene-0" / "gt.txt", "pred"), events))


def test_synthetic_reentry_benchmark_dresses_a_crowd_in_street_colours(tmp_path):
    bench = load_script("synthetic_reid")
    assert bench.main(["--seeds", "0", "--backend", "motion", "--frames", "60", "--textures", "clothing",
                       "--objects", "6", "--out", str(tmp_path)]) == 0
    scene = json.loads((tmp_path / "scene-0" / "scene.json").read_text())
    assert len(scene["textures"]) == 6 and all(name.startswith("clothing-") for name in scene["textures"].values())
    (row,) = json.loads((tmp_path / "results.json").read_text())["per_seed"]
    assert row["reentries"] == 1 and row["kept"] == 0  # motion-only still cannot link the return


def test_every_ablation_row_is_a_valid_config():
    """A misspelt key in benchmarks/ablation.py's ROWS would otherwise fail minutes into a run."""
    from orion_core.config import build_config, deep_merge

    ablation = load_script("ablation")
    assert len({name for name, _ in ablation.ROWS}) == len(ablation.ROWS)
    for name, override in ablation.ROWS:
        config = build_config(overrides=deep_merge({"embedding": {"backend": "histogram"}}, override))
        for section, values in override.items():
            for key, value in values.items():
                assert getattr(getattr(config, section), key) == value, (name, key)


def test_every_ablation_scene_makes_a_scene_and_an_unknown_one_is_named(tmp_path, capsys):
    """Each of ablation.py's SCENES is a valid `make_scene` call (the 24-object `dense` one is the
    generator's most); a misspelt scene fails at once, in one line, instead of as a KeyError."""
    from orion_core.synthetic import MAX_OBJECTS, make_scene

    ablation = load_script("ablation")
    assert ablation.SCENES["dense"]["n_objects"] == MAX_OBJECTS
    for name, settings in ablation.SCENES.items():
        info = make_scene(tmp_path / name, seed=0, frames=30, video=False, **settings)
        assert info.gt_path.stat().st_size > 0, name
    with pytest.raises(SystemExit) as exit_info:
        ablation.main(["--pets", str(tmp_path / "no-pets"), "--scenes", "crowd,crowds", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "unknown scene(s) crowds: choose from reentry, lookalikes, crowd, pan, dense" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # checked before any work (PETS's too): nothing written


def test_trajectories_benchmark_on_the_shortest_replay(tmp_path, capsys):
    """benchmarks/trajectories.py end to end on TUD-Campus at 8.3 fps, one seed, motion-only."""
    pytest.importorskip("motmetrics")
    bench = load_script("trajectories")
    assert bench.main(["--sequences", "TUD-Campus", "--steps", "3", "--seeds", "0", "--methods", "motion,histogram-online,motion-online",
                       "--peers", "", "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row, *_) = [r for r in out["mean_over_seeds"] if r["method"] == "orion motion"]
    assert row["fps"] == pytest.approx(8.33) and row["GT_IDs"] == 8 and 0 < row["HOTA"] <= 100
    (verdict,) = out["verdicts"]
    assert verdict["method"] == "orion histogram-online" and verdict["motion baseline"] == "orion motion-online"
    assert json.loads((tmp_path / "results.json").read_text()) == out


def test_trajectories_benchmark_realistic_detector_and_settings(tmp_path, capsys):
    """--detector realistic writes a faulty det.txt (recorded in scene.json); --set reaches Orion's
    config (min_run 0 fills more rows than the default on clutter) and a bad key is one parser error."""
    pytest.importorskip("motmetrics")
    bench = load_script("trajectories")
    common = ["--sequences", "TUD-Campus", "--steps", "1", "--seeds", "0", "--methods", "motion", "--peers", "", "--json"]
    assert bench.main([*common, "--detector", "realistic", "--out", str(tmp_path / "a")]) == 0
    default = json.loads(capsys.readouterr().out)
    scene = json.loads((tmp_path / "a" / "TUD-Campus-step1-seed0" / "scene" / "scene.json").read_text())
    assert scene["det_faults"]["clutter"] == 2 and default["detector"] == "realistic"
    assert bench.main([*common, "--detector", "realistic", "--set", "offline_interpolate_min_run=0",
                       "--set", "memory.max_gap_s=2", "--out", str(tmp_path / "b")]) == 0
    every = json.loads(capsys.readouterr().out)
    assert every["tracking_overrides"] == {"offline_interpolate_min_run": 0}
    assert every["overrides"] == {"tracking": {"offline_interpolate_min_run": 0}, "memory": {"max_gap_s": 2}}
    (run_default,), (run_every,) = default["runs"], every["runs"]
    assert run_every["interpolated"] > run_default["interpolated"]
    run_json = json.loads((tmp_path / "b" / "TUD-Campus-step1-seed0" / "motion" / "run.json").read_text())
    assert run_json["config"]["memory"]["max_gap_s"] == 2  # the memory section arrived
    for bad, message in [("no_such_key=1", "no_such_key: unknown key"), ("memory.no_such=1", "no_such: unknown key"),
                         ("video.fps=3", "section 'video' cannot be set here"),
                         ("embedding.backend=dinov2", "each method sets this itself")]:
        with pytest.raises(SystemExit):
            bench.main([*common, "--set", bad, "--out", str(tmp_path / "c")])
        assert message in capsys.readouterr().err, bad


# -- random checkpoints -------------------------------------------------------------------------
def test_random_checkpoint_loads_as_the_backend_says(tmp_path):
    pytest.importorskip("transformers")
    make = load_script("make_random_checkpoint")
    folder = make.make_checkpoint("dinov3", "tiny", tmp_path / "dinov3-tiny")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "dinov3_vit" and config["num_register_tokens"] == 4
    assert config["orion_random_weights"] is True
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["size"] == {"height": 64, "width": 64}
    assert make.SIZES["dinov3"]["base"] == dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                                num_attention_heads=12)
    if importlib.util.find_spec("orion_dinov3"):
        from orion_core.config import EmbeddingConfig

        assert EmbeddingConfig(backend="dinov3", weights_dir=str(folder)).embedding_dim == 32
    with pytest.raises(SystemExit, match="vjepa2 has no size 'small'"):
        make.make_checkpoint("vjepa2", "small", tmp_path / "v")


def test_an_offline_row_replayed_on_a_pass_through_run_equals_the_full_run(tmp_path):
    """benchmarks/ablation.py --replay redoes only the offline pass; every offline setting must
    reach it (the evidence rule's min_run once did not), so replay and full run write the same rows."""
    from orion_core.bench import run_orion
    from orion_core.synthetic import DetectorFaults, TrackBox, replay_scene

    ablation = load_script("ablation")
    tracks = [TrackBox(f, 1, 20 + 1.5 * f, 40.0, 40.0, 100.0) for f in range(1, 121)]
    tracks += [TrackBox(f, 2, 330 - 1.5 * (f - 40), 120.0, 40.0, 100.0) for f in range(40, 121)]  # enters later
    info = replay_scene(tmp_path / "scene", tracks, (400, 240), fps=25.0, seed=1, lookalikes=0,
                        det_false_positives=0.0, det_faults=DetectorFaults(clutter=2))
    online = run_orion(info.video_path, info.det_path, tmp_path, "online", appearance=False,
                       overrides={"tracking": dict(ablation.PASS_THROUGH)}).tracks.parent
    assert '"backfilled": true' in (online / "tracks.jsonl").read_text()  # the later object's tentative start
    outputs = set()
    for name, override in [("default", {}), ("min_run 0", {"tracking": {"offline_interpolate_min_run": 0}}),
                           ("keep", {"tracking": {"offline_drop_unsupported": False}}),
                           ("no backfill", {"tracking": {"offline_backfill": False}})]:
        full = run_orion(info.video_path, info.det_path, tmp_path, name.replace(" ", "-"), appearance=False,
                         overrides=override).tracks
        replayed = ablation.replay_offline(online, override, tmp_path / "replay" / f"{name}.txt")
        assert replayed.read_text() == full.read_text(), name
        outputs.add(full.read_text())
    assert len(outputs) == 4  # each setting changed the result


def test_ablation_runs_offline_rows_in_full_where_the_camera_moved(tmp_path, monkeypatch):
    """The camera warps a run applied are not in its files, and the pass needs them: a replay of
    a panning scene would not be the full run's result (it was 0.6-0.9 HOTA off on the pan)."""
    ablation = load_script("ablation")
    ablation.ROW_IDS["r"] = "r"
    calls = []
    monkeypatch.setattr(ablation, "replay_offline", lambda *a: calls.append("replay") or tmp_path / "t.txt")
    monkeypatch.setattr(ablation, "run_orion", lambda *a, **k: calls.append("full") or types.SimpleNamespace(tracks=tmp_path / "t.txt"))
    monkeypatch.setattr(ablation, "evaluate_mot", lambda *a, **k: {"HOTA": 1.0, "IDF1": 1.0, "MOTA": 1.0, "IDSW": 0})
    scene = {"scene": "s", "video": str(tmp_path / "s" / "video.mp4"), "det": "d", "gt": "g", "frames": 10,
             "label": "person", "reentries": []}
    for moved, expected in ((0, "replay"), (12, "full")):
        episode = tmp_path / f"online{moved}"
        episode.mkdir()
        (episode / "run.json").write_text(json.dumps({"tracker": {"camera_compensated_frames": moved}}))
        assert ablation.camera_moved(episode) is bool(moved)
        ablation.run_row(scene, "histogram", "r", {}, tmp_path, episode)
        assert calls[-1] == expected


def test_boxmot_peers_get_the_detections_and_report_mot_rows(tmp_path, monkeypatch):
    """benchmarks/pets.py's BoxMOT runners (optional peers; BoxMOT is never installed in CI): the
    tracker is built from its registry name with the options issue 10's table used, gets (N, 6)
    `x1,y1,x2,y2,score,class` float arrays and a BGR frame, and its `x1,y1,x2,y2,id,score,...`
    rows come back as MOT `frame,id,left,top,w,h,score` rows."""
    from orion_core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", frames=30, n_objects=2, reentry=False, crossing=False)
    made, seen = [], []

    class Spec:
        def __init__(self, name, options=()):
            self.name, self.options = name, dict(options)

    class Tracker:
        def update(self, dets, frame):
            assert dets.dtype == np.float32 and dets.shape[1] == 6 and frame.ndim == 3
            seen.append(dets.copy())
            ids = np.arange(1, len(dets) + 1, dtype=np.float32)[:, None]
            return np.hstack([dets[:, :4], ids, dets[:, 4:5], np.zeros((len(dets), 2), np.float32)])

    def create_tracker(spec):
        made.append(spec)
        return Tracker()

    fake = types.ModuleType("boxmot.trackers")
    fake.TrackerSpec, fake.create_tracker = Spec, create_tracker
    monkeypatch.setitem(sys.modules, "boxmot", types.ModuleType("boxmot"))
    monkeypatch.setitem(sys.modules, "boxmot.trackers", fake)
    pets = load_script("pets")
    module, runner = pets.PEERS["boxmot-boosttrack"]
    assert module == "boxmot" and {"boxmot-botsort", "boxmot-bytetrack", "boxmot-ocsort"} <= set(pets.PEERS)
    rows = runner(scene.video_path, scene.det_path, scene.frames)
    assert made[0].name == "boosttrack" and made[0].options == {"use_embeddings": False}
    assert len(seen) == scene.frames
    dets = np.loadtxt(scene.det_path, delimiter=",", ndmin=2)
    first = [r for r in rows if r[0] == 1]
    expected = dets[dets[:, 0] == 1]
    assert len(first) == len(expected)
    for (frame, track_id, x, y, w, h, score), want in zip(first, expected):
        np.testing.assert_allclose([x, y, w, h, score], want[2:7], atol=1e-3)


def test_pets_step_gives_every_method_the_same_lower_frame_rate(tmp_path, monkeypatch):
    """`benchmarks/pets.py --step 3`: the peers' frames, Orion's frames (video.fps = declared / 3)
    and the cut ground truth are the same every-3rd-frame grid, so the comparison stays fair."""
    from orion_core.bench import run_orion
    from orion_core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", frames=30, n_objects=2, reentry=False, crossing=False)
    pets = load_script("pets")
    monkeypatch.setattr(pets, "STEP", 3)
    peer_frames = [frame for frame, _, _ in pets.frames_and_detections(scene.video_path, scene.det_path, 30)]
    assert peer_frames == list(range(1, 31, 3))

    gt = pets.kept_ground_truth(scene.gt_path, 3, tmp_path / "gt-step3.txt")
    assert {int(line.split(",")[0]) for line in gt.read_text().splitlines()} == set(peer_frames)

    fps = pets.declared_fps(scene.video_path)
    run = run_orion(scene.video_path, scene.det_path, tmp_path, "step3", appearance=False, max_frames=10,
                    overrides={"video": {"fps": fps / 3}})
    orion_frames = {int(line.split(",")[0]) for line in run.tracks.read_text().splitlines()}
    assert orion_frames and orion_frames <= set(peer_frames)
    assert run.result.counts["frames"] == 10


def test_pets_set_reaches_orion_and_bad_settings_are_one_parser_error(tmp_path, monkeypatch, capsys):
    """`benchmarks/pets.py --set KEY=VALUE` overrides Orion's config for every Orion row (as in
    trajectories.py); a bad key, a section the script owns, or a policy (`--policies` names it)
    stop before any run with one line."""
    from orion_core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", frames=30, n_objects=2, reentry=False, crossing=False)
    pets = load_script("pets")
    monkeypatch.setattr(pets, "VIDEO", scene.video_path.name)
    monkeypatch.setattr(pets, "GROUND_TRUTH", scene.gt_path.name)
    common = [str(scene.out_dir), "--frames", "1-30", "--backends", "motion", "--peers", ""]
    assert pets.main([*common, "--set", "min_iou=0.35", "--set", "memory.max_gap_s=7", "--out", str(tmp_path / "a")]) in (0, None)
    config = json.loads((tmp_path / "a" / "orion-motion-only" / "run.json").read_text())["config"]
    assert config["tracking"]["min_iou"] == 0.35 and config["memory"]["max_gap_s"] == 7
    assert "orion motion-only" in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "a" / "results.json").read_text())
    assert 0 < row["HOTA"] <= 100 and 0 < row["person_HOTA"] <= 100 and row["person_IDF1"] is not None
    for bad, message in [("no_such_key=1", "no_such_key: unknown key"), ("video.fps=3", "section 'video' cannot be set here"),
                         ("embedding.policy=all", "use --policies")]:
        with pytest.raises(SystemExit):
            pets.main([*common, "--set", bad, "--out", str(tmp_path / "b")])
        assert message in capsys.readouterr().err, bad
    assert not (tmp_path / "b").exists()


def test_pets_person_ground_truth_joins_only_the_checked_returns(tmp_path):
    """The person-level ground truth renames each returning id (`RETURNS`) to its first id and
    leaves every other row, and every other column, as it was."""
    pets = load_script("pets")
    assert pets.RETURNS == {1: 19, 14: 15}
    gt = tmp_path / "gt.txt"
    gt.write_text("147,19,731,230,31.5,85.9,1,-1,-1,-1\n224,1,712,232,38.4,86.2,1,-1,-1,-1\n"
                  "224,9,300,200,30,80,1,-1,-1,-1\n231,14,742,320,35,78,0,-1,-1,-1\n")
    person = pets.person_ground_truth(gt, tmp_path / "out" / "gt-person.txt").read_text().splitlines()
    assert person == ["147,19,731,230,31.5,85.9,1,-1,-1,-1", "224,19,712,232,38.4,86.2,1,-1,-1,-1",
                      "224,9,300,200,30,80,1,-1,-1,-1", "231,15,742,320,35,78,0,-1,-1,-1"]


def test_ablation_scores_pets_also_on_the_person_level_ground_truth(tmp_path, capsys):
    """`ablation.py --pets DIR` adds a "PETS 1-400 people" column: the same runs scored against
    pets.py's person-level ground truth (returns keep their first id). A synthetic scene stands
    in for PETS here; its ground-truth id 1 is renamed 19 in the person-level copy."""
    import shutil

    from orion_core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", frames=30, n_objects=2, reentry=False, crossing=False)
    pets_dir = tmp_path / "pets"
    pets_dir.mkdir()
    shutil.copy(scene.video_path, pets_dir / "vtest.avi")
    shutil.copy(scene.det_path, pets_dir / "det.txt")
    shutil.copy(scene.gt_path, pets_dir / "gt-frames-001-400.txt")
    ablation = load_script("ablation")
    assert ablation.main(["--pets", str(pets_dir), "--scenes", "", "--backends", "motion", "--rows", "offline pass (default)",
                          "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "PETS 1-400 people" in out
    person_gt = (tmp_path / "out" / "gt-person.txt").read_text().splitlines()
    assert {line.split(",")[1] for line in person_gt} == {"19", "2"}
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    published = [r for r in results if r["scene"] == "PETS 1-400"]
    people = [r for r in results if r["scene"] == "PETS 1-400 people"]
    assert len(published) == len(people) == 1 and 0 < people[0]["HOTA"] <= 100
    # one object renamed in the ground truth and nowhere else: the scores of a 2-object scene move together
    assert people[0]["MOTA"] == pytest.approx(published[0]["MOTA"])


def pets_like(tmp_path: Path):
    """A 30-frame synthetic scene laid out as a PETS folder (vtest.avi, det.txt, ground truth), for
    the scripts that cut or re-shoot PETS."""
    from orion_core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", frames=30, n_objects=2, reentry=False, crossing=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "vtest.avi").symlink_to(scene.video_path)
    (data / "det.txt").symlink_to(scene.det_path)
    (data / "gt-frames-001-400.txt").symlink_to(scene.gt_path)
    return scene, data


def test_pets_clips_cuts_same_pixels_and_renumbered_rows_and_runs_each_clip_alone(tmp_path, capsys):
    """`benchmarks/pets_clips.py`: a clip holds exactly frames A..B of the video (lossless, same
    declared rate) with det.txt and ground truth cut to them and renumbered from 1, and every clip
    is tracked as its own video, so short clips end on the backend's prior."""
    import av

    clips = load_script("pets_clips")
    assert clips.windows(1, 30, 10) == [(1, 10), (11, 20), (21, 30)]
    assert clips.windows(1, 25, 10) == [(1, 10), (11, 20)]
    assert clips.cut_rows("9,1,a\n11,2,b\n20,3,c\n21,4,d\n", 11, 20) == "1,2,b\n10,3,c\n"

    scene, data = pets_like(tmp_path)

    assert clips.main([str(data), "--frames", "1-30", "--length", "10", "--backends", "histogram,motion", "--peers", "",
                       "--out", str(tmp_path / "out")]) == 0
    clip = tmp_path / "out" / "clip-011-020"
    with av.open(str(scene.video_path)) as whole, av.open(str(clip / "vtest.avi")) as cut:
        want = [f.to_ndarray(format="yuv420p") for f in whole.decode(video=0)][10:20]
        got = [f.to_ndarray(format="yuv420p") for f in cut.decode(video=0)]
        assert cut.streams.video[0].average_rate == whole.streams.video[0].average_rate
    assert len(got) == 10 and all(np.array_equal(a, b) for a, b in zip(want, got))
    det_rows = (clip / "det.txt").read_text().splitlines()
    assert {int(r.split(",")[0]) for r in det_rows} == set(range(1, 11))
    assert det_rows == clips.cut_rows(scene.det_path.read_text(), 11, 20).splitlines()

    summary = {row["method"]: row for row in json.loads((tmp_path / "out" / "results.json").read_text())["summary"]}
    assert summary["orion histogram"]["clips"] == 3 and summary["orion histogram"]["prior"] == 3
    assert summary["orion motion-only"]["prior"] is None
    assert 0 < summary["orion motion-only"]["IDF1"] <= 100
    assert "3 clips of 10 frames" in capsys.readouterr().out


def test_pets_pan_films_the_video_through_a_moving_window_and_moves_every_box_with_it(tmp_path, capsys):
    """`benchmarks/pets_pan.py`: each output frame is the source warped by the camera path's affine,
    every det/gt box goes through the same affine (dropped when mostly out of view, else clipped),
    and Orion runs once per cmc mode on the re-shot video."""
    import av
    import cv2

    pan = load_script("pets_pan")
    path = pan.CameraPath(768, 576, pan=96, tilt=48, zoom=1.25, period=60)
    assert path.output_size == (576, 432)
    assert path.window(0) == pytest.approx((96.0, 72.0, 1.0))  # centred, zoom 1
    left, top, z = path.window(60)  # one full swing, half the zoom cycle: centred across, zoomed in fully
    assert (left, top, z) == pytest.approx((384 - 576 / 1.25 / 2, 288 + 48 * np.sin(4 * np.pi / 3) - 432 / 1.25 / 2, 1.25))
    for t in range(0, 240, 7):  # the window never leaves the frame
        left, top, z = path.window(t)
        assert 0 <= left and left + 576 / z <= 768 + 1e-9 and 0 <= top and top + 432 / z <= 576 + 1e-9
    still = pan.CameraPath(768, 576, still=10)
    assert still.window(0) == still.window(10) != still.window(11)
    shaky, steady = pan.CameraPath(768, 576, pan=0, tilt=0, zoom=1, shake=4), pan.CameraPath(768, 576, pan=0, tilt=0, zoom=1)
    jitter = np.array([np.subtract(shaky.window(t)[:2], steady.window(t)[:2]) for t in range(200)])
    assert shaky.window(7) == shaky.window(7) and 3 < jitter.std() < 5  # a fixed handheld jitter, ~4 px
    exposed = pan.CameraPath(768, 576, exposure=0.3, period=60)
    assert exposed.gain(0) == 1.0 and exposed.gain(45) == pytest.approx(1.3) and exposed.gain(135) == pytest.approx(0.7)

    # a box maps through the same matrix as the pixels; mostly-outside boxes go, partly-outside ones are clipped
    left, top, z = path.window(14)
    m = path.matrix(14)
    inside = (left + 100, top + 50, 40, 80)
    rows = pan.move_rows(
        f"15,1,{inside[0]},{inside[1]},{inside[2]},{inside[3]},1,-1,-1,-1\n"
        f"15,2,{left - 35},{top + 50},40,80,1,-1,-1,-1\n"  # 5 of 40 px in view: under MIN_VISIBLE, dropped
        f"15,3,{left - 100},{top},40,80,1,-1,-1,-1\n",  # wholly outside
        path,
    )
    x0, y0 = m @ np.array([inside[0], inside[1], 1.0])
    first = [float(v) for v in rows[0].split(",")[2:6]]
    assert first == pytest.approx([x0, y0, 40 * z, 80 * z], abs=0.01)
    assert [r.split(",")[1] for r in rows] == ["1"]
    partly = pan.move_rows(f"15,4,{left - 10},{top + 50},40,80,1,-1,-1,-1\n", path)
    assert len(partly) == 1 and float(partly[0].split(",")[2]) == 0.0
    assert float(partly[0].split(",")[4]) == pytest.approx(30 * z, abs=0.01)

    scene, data = pets_like(tmp_path)
    assert pan.main([str(data), "--frames", "1-30", "--pan", "20", "--tilt", "10", "--zoom", "1.1", "--period", "20",
                     "--backends", "histogram,motion", "--peers", "", "--out", str(tmp_path / "out"), "--check-estimate"]) == 0
    width, height = pan.source_size(scene.video_path)
    path = pan.CameraPath(width, height, 20, 10, 1.1, 20)
    with av.open(str(scene.video_path)) as whole, av.open(str(tmp_path / "out" / "video" / "vtest.avi")) as shot:
        source = [f.to_ndarray(format="rgb24") for f in whole.decode(video=0)][:30]
        got = [f.to_ndarray(format="rgb24") for f in shot.decode(video=0)]
        assert shot.streams.video[0].average_rate == whole.streams.video[0].average_rate
    assert len(got) == 30 and got[0].shape[:2] == (path.output_size[1], path.output_size[0])
    for t in (0, 7, 23):  # lossless but for 4:2:0 chroma: the warped source within a few grey levels
        want = cv2.warpAffine(source[t], path.matrix(t), path.output_size, flags=cv2.INTER_LINEAR)
        assert np.abs(want.astype(int) - got[t].astype(int)).mean() < 3.0
    assert (tmp_path / "out" / "video" / "det.txt").read_text().splitlines() == pan.move_rows(scene.det_path.read_text(), path, 30)
    assert pan.move_rows("31,1,10,10,20,40,1,-1,-1,-1\n", path, 30) == []  # rows past the video's frames are not kept

    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["method"], r["cmc"]) for r in rows] == [
        ("orion histogram", "off"), ("orion motion-only", "off"), ("orion histogram", "auto"), ("orion motion-only", "auto")]
    assert all(r["applied"] == 0 for r in rows[:2]) and all(r["applied"] > 20 for r in rows[2:])
    assert all(0 < r["IDF1"] <= 100 for r in rows)
    out = capsys.readouterr().out
    assert "filmed by a virtual camera" in out
    errors = pan.estimate_errors(tmp_path / "out" / "video", "vtest.avi", path, 30)  # the estimator against the truth
    assert len(errors) == 29 and np.isfinite(errors).sum() >= 25 and np.nanmean(errors) < 0.5
    assert f"{np.isfinite(errors).sum()} estimated" in out and f"mean {np.nanmean(errors):.3f}" in out
