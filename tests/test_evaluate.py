"""`orion eval`: our loader + TrackEval's metric classes must give TrackEval's own numbers."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from orion_core.cli import main
from orion_core.errors import ConfigError, InputError
from orion_core.evaluate import evaluate_mot, parse_frame_range, read_mot_file

PETS = Path(os.environ.get("ORION_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")) / "pets09-s2l1"

# Three well-separated walkers, 20 frames; ids are arbitrary on purpose (TrackEval needs 0-based).
WALKERS = {7: (20.0, 30.0), 42: (200.0, 40.0), 1000: (400.0, 300.0)}


def walker_rows(ids=WALKERS, frames=range(1, 21), considered=1) -> list[list[float]]:
    rows = []
    for f in frames:
        for track_id, (x, y) in ids.items():
            rows.append([f, track_id, x + 3 * f, y + f, 40, 80, considered, -1, -1, -1])
    return rows


def write(path: Path, rows) -> Path:
    path.write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows))
    return path


@pytest.fixture
def gt(tmp_path: Path) -> Path:
    return write(tmp_path / "gt.txt", walker_rows())


def test_ground_truth_against_itself_is_perfect(gt: Path):
    r = evaluate_mot(gt, gt)
    for key in ("HOTA", "DetA", "AssA", "MOTA", "MOTP", "IDF1", "IDP", "IDR"):
        assert r[key] == pytest.approx(100.0), key
    assert (r["IDSW"], r["FP"], r["FN"], r["TP"]) == (0, 0, 0, 60)
    assert (r["GT_IDs"], r["Pred_IDs"], r["frames"], r["num_frames"]) == (3, 3, [1, 20], 20)


def test_swapping_two_ids_halfway_costs_two_switches_and_half_the_idf1(tmp_path: Path, gt: Path):
    rows = walker_rows()
    for row in rows:  # from frame 11 on, ids 7 and 42 trade places
        if row[0] >= 11 and row[1] in (7, 42):
            row[1] = 49 - row[1]
    r = evaluate_mot(gt, write(tmp_path / "pred.txt", rows))
    # Each of the two GT ids changes its matched tracker id once.
    assert r["IDSW"] == 2
    assert (r["FP"], r["FN"], r["TP"]) == (0, 0, 60)
    assert r["MOTA"] == pytest.approx(100 * (60 - 2) / 60)
    # Identity: best one-to-one id map keeps 10 of 20 frames for each swapped GT id -> IDTP 40 of 60.
    assert r["IDTP"] == 40
    assert r["IDF1"] == pytest.approx(100 * 40 / 60)
    # HOTA: swapped ids have Ass-IoU 10 / (20 + 20 - 10) = 1/3 on 40 of the 60 TPs; boxes are exact.
    ass = (40 * (1 / 3) + 20 * 1.0) / 60
    assert r["DetA"] == pytest.approx(100.0)
    assert r["AssA"] == pytest.approx(100 * ass)
    assert r["HOTA"] == pytest.approx(100 * math.sqrt(ass))


def test_empty_prediction_scores_zero(tmp_path: Path, gt: Path):
    r = evaluate_mot(gt, write(tmp_path / "pred.txt", []))
    assert (r["HOTA"], r["MOTA"], r["IDF1"]) == (0.0, 0.0, 0.0)
    assert (r["TP"], r["FP"], r["FN"], r["Pred_IDs"]) == (0, 0, 60, 0)


def test_rows_marked_not_considered_are_ignored_and_predicting_them_is_a_false_positive(tmp_path: Path):
    ignored = walker_rows({5: (300.0, 150.0)}, considered=0)
    gt = write(tmp_path / "gt.txt", walker_rows() + ignored)
    r = evaluate_mot(gt, write(tmp_path / "pred.txt", walker_rows()))
    assert (r["HOTA"], r["MOTA"], r["IDF1"]) == (100.0, 100.0, 100.0)
    assert (r["GT_IDs"], r["ignored_gt_rows"]) == (3, 20)
    # MOT15 has no distractor classes, so TrackEval keeps a prediction on an ignored box: an FP.
    r = evaluate_mot(gt, write(tmp_path / "pred2.txt", walker_rows() + ignored))
    assert (r["FP"], r["TP"], r["FN"]) == (20, 60, 0)


def test_frame_range_limits_both_files(tmp_path: Path, gt: Path):
    pred = write(tmp_path / "pred.txt", walker_rows(frames=range(1, 31)))
    r = evaluate_mot(gt, pred)
    assert (r["FP"], r["frames"]) == (30, [1, 30])
    assert "--frames 1-20" in r["warnings"][0]
    assert evaluate_mot(gt, pred, frames=(1, 20))["HOTA"] == pytest.approx(100.0)
    r = evaluate_mot(gt, pred, frames=(6, 10))
    assert (r["TP"], r["FP"], r["num_frames"]) == (15, 0, 5)


def test_parse_frame_range():
    assert parse_frame_range("1-400") == (1, 400)
    for bad in ("400", "0-5", "9-3", "a-b"):
        with pytest.raises(ConfigError, match="--frames"):
            parse_frame_range(bad)


@pytest.mark.parametrize(
    "line, message",
    [
        ("3,1,10,10,5,5", "6 columns, expected 7 to 10"),
        ("3,1,10,ten,5,5,1,-1,-1,-1", "'ten' is not a number"),
        ("0,1,10,10,5,5,1,-1,-1,-1", "frame 0 must be a whole number >= 1"),
        ("-2,1,10,10,5,5,1,-1,-1,-1", "frame -2 must be"),
        ("2,1,10,10,-5,5,1,-1,-1,-1", "negative box size"),
        ("1,7,1,1,5,5,1,-1,-1,-1", r"id 7 appears more than once in frame 1 \(lines 1, 3\)"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path: Path, line: str, message: str):
    path = tmp_path / "gt.txt"
    path.write_text("1,7,0,0,5,5,1,-1,-1,-1\n\n" + line + "\n")
    with pytest.raises(InputError, match=message) as err:
        read_mot_file(path, "gt")
    assert str(err.value).startswith(str(path))
    assert f"{path}, line 3:" in str(err.value) or "(lines 1, 3)" in str(err.value)


def test_missing_file_and_detections_passed_as_tracks(tmp_path: Path):
    with pytest.raises(InputError, match="prediction file .* does not exist"):
        read_mot_file(tmp_path / "nope.txt", "pred")
    dets = write(tmp_path / "det.txt", [[1, -1, 0, 0, 5, 5, 0.9], [1, -1, 9, 9, 5, 5, 0.8]])
    with pytest.raises(InputError, match="detections file, not tracks"):
        read_mot_file(dets, "pred")


def test_pred_confidence_is_optional_and_space_separated_files_parse(tmp_path: Path):
    path = tmp_path / "pred.txt"
    path.write_text("1 3 10 20 30 40\n2,3,11,20,30,40,0.5,\n")
    rows = read_mot_file(path, "pred")
    assert rows.frames.tolist() == [1, 2] and rows.flags.tolist() == [1.0, 0.5]
    assert rows.boxes[1].tolist() == [11, 20, 30, 40]


def _trackeval_reference(root: Path, gt_rows: list[str], pred_rows: list[str], length: int) -> dict:
    """TrackEval's own Evaluator + MotChallenge2DBox (MOT15) on a throw-away benchmark tree."""
    import trackeval

    seq = "SEQ"
    seq_dir = root / "gt" / "MOT15-train" / seq
    (seq_dir / "gt").mkdir(parents=True)
    (seq_dir / "gt" / "gt.txt").write_text("".join(r + "\n" for r in gt_rows))
    (seq_dir / "seqinfo.ini").write_text(f"[Sequence]\nname={seq}\nseqLength={length}\n")
    (root / "gt" / "seqmaps").mkdir()
    (root / "gt" / "seqmaps" / "MOT15-train.txt").write_text(f"name\n{seq}\n")
    data_dir = root / "trackers" / "MOT15-train" / "mine" / "data"
    data_dir.mkdir(parents=True)
    (data_dir / f"{seq}.txt").write_text("".join(r + "\n" for r in pred_rows))
    quiet = {"PRINT_CONFIG": False}
    evaluator = trackeval.Evaluator({
        **quiet, "PRINT_RESULTS": False, "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "LOG_ON_ERROR": None,
    })
    dataset = trackeval.datasets.MotChallenge2DBox({
        **quiet, "GT_FOLDER": str(root / "gt"), "TRACKERS_FOLDER": str(root / "trackers"), "BENCHMARK": "MOT15",
    })
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(quiet), trackeval.metrics.Identity(quiet)]
    res, _ = evaluator.evaluate([dataset], metrics)
    r = res["MotChallenge2DBox"]["mine"][seq]["pedestrian"]
    return {
        "HOTA": 100 * np.mean(r["HOTA"]["HOTA"]), "DetA": 100 * np.mean(r["HOTA"]["DetA"]),
        "AssA": 100 * np.mean(r["HOTA"]["AssA"]), "MOTA": 100 * r["CLEAR"]["MOTA"],
        "MOTP": 100 * r["CLEAR"]["MOTP"], "IDSW": r["CLEAR"]["IDSW"], "FP": r["CLEAR"]["CLR_FP"],
        "FN": r["CLEAR"]["CLR_FN"], "IDF1": 100 * r["Identity"]["IDF1"], "IDP": 100 * r["Identity"]["IDP"],
        "IDR": 100 * r["Identity"]["IDR"],
    }


def _noisy_tracks(gt_rows: list[list[float]], seed: int) -> list[str]:
    """Jittered boxes, dropped boxes, a false track and an id switch: every metric term is non-zero."""
    rng = np.random.default_rng(seed)
    out = []
    for f, tid, x, y, w, h, *_ in gt_rows:
        if rng.random() < 0.1:
            continue
        tid = tid + 500 if (tid == 42 and f > 12) else tid
        x, y, w, h = (v + rng.normal(0, 4) for v in (x, y, w, h))
        out.append(f"{int(f)},{int(tid)},{x:.2f},{y:.2f},{w:.2f},{h:.2f},0.9,-1,-1,-1")
    out += [f"{f},9,{100 + 2 * f},200,30,60,0.4,-1,-1,-1" for f in range(3, 15)]
    return out


def test_agrees_with_trackeval_evaluator_on_a_folder_tree(tmp_path: Path):
    gt_rows = walker_rows() + walker_rows({5: (300.0, 150.0)}, frames=range(4, 12), considered=0)
    gt_lines = [",".join(f"{v:g}" for v in row) for row in gt_rows]
    pred_lines = _noisy_tracks(gt_rows, seed=3)
    expected = _trackeval_reference(tmp_path / "te", gt_lines, pred_lines, length=20)
    (tmp_path / "gt.txt").write_text("\n".join(gt_lines))
    (tmp_path / "pred.txt").write_text("\n".join(pred_lines))
    got = evaluate_mot(tmp_path / "gt.txt", tmp_path / "pred.txt", frames=(1, 20))
    assert 0 < expected["IDSW"] and 0 < expected["FP"] and 0 < expected["FN"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key  # same metric code: equal, not just close


@pytest.mark.skipif(not PETS.is_dir(), reason="real data folder ../shared/data not present")
def test_agrees_with_trackeval_on_pets_detections_as_tracks(tmp_path: Path):
    gt_lines = (PETS / "gt-frames-001-400.txt").read_text().splitlines()
    det = [line.split(",") for line in (PETS / "det.txt").read_text().splitlines()]
    # Each public detection becomes its own one-box track: a no-association baseline.
    pred_lines = [",".join([d[0], str(i + 1), *d[2:]]) for i, d in enumerate(det) if int(d[0]) <= 400]
    expected = _trackeval_reference(tmp_path / "te", gt_lines, pred_lines, length=400)
    (tmp_path / "pred.txt").write_text("\n".join(pred_lines))
    got = evaluate_mot(PETS / "gt-frames-001-400.txt", tmp_path / "pred.txt", frames=(1, 400))
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key
    assert got["ignored_gt_rows"] == 174 and got["GT_IDs"] == 10
    assert got["DetA"] == pytest.approx(47.14, abs=0.01) and got["IDSW"] == 1703


def test_cli_table_json_and_one_line_errors(tmp_path: Path, gt: Path, capsys):
    main(["eval", "--gt", str(gt), "--pred", str(gt)])
    table = capsys.readouterr().out
    assert "HOTA" in table and "IDF1" in table and "100.000" in table
    main(["eval", "--gt", str(gt), "--pred", str(gt), "--frames", "1-10", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["TP"] == 30 and result["frames"] == [1, 10] and result["IDF1"] == 100.0
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--gt", str(gt), "--pred", str(tmp_path / "missing.txt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: prediction file ") and err.count("\n") == 1
