"""Episode writers: names cannot escape --out, nothing half-written looks complete."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orion_core.errors import ConfigError
from orion_core.outputs import EpisodeWriter, episode_dir
from orion_core.types import TrackedObject


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "", "x" * 200, "a\\b"])
def test_episode_names_that_escape_are_refused(tmp_path, name):
    with pytest.raises(ConfigError, match="episode name"):
        episode_dir(tmp_path, name)


def test_output_under_a_regular_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        episode_dir(blocker, "ep")
    with pytest.raises(ConfigError, match="which is a file"):
        episode_dir(blocker / "sub", "ep")


def obj(entity, box=(10, 20, 30, 60), score=0.9):
    return TrackedObject(track_id=entity + 100, entity_id=entity, box=np.array(box, np.float32), score=score, label="person", det_index=0)


def test_writer_streams_rows_and_commits_atomically(tmp_path):
    target = episode_dir(tmp_path / "out", "ep")
    writer = EpisodeWriter(target, embedding_dim=3)
    writer.write_run({"complete": False})
    assert not target.exists()  # nothing under the final name until commit
    writer.observe(0, 0.0, obj(1), np.array([1, 0, 0], np.float32))
    writer.observe(0, 0.0, obj(2), None)
    writer.observe(4, 0.4, obj(1, (11, 21, 31, 61)), np.array([0, 1, 0], np.float32))
    writer.close_streams()
    writer.commit({"entities": []}, {"complete": True})
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ep"]
    lines = (target / "tracks.txt").read_text().splitlines()
    assert lines[0] == "1,1,10.00,20.00,20.00,40.00,0.9000,-1,-1,-1"
    assert lines[2].startswith("5,1,11.00,21.00,20.00,40.00")
    records = [json.loads(line) for line in (target / "tracks.jsonl").read_text().splitlines()]
    assert [r["embedding_row"] for r in records] == [0, None, 2]
    assert records[2]["bbox_xyxy"] == [11.0, 21.0, 31.0, 61.0] and records[2]["track_id"] == 101
    rows = np.load(target / "embeddings.npy")
    assert rows.shape == (3, 3) and rows.dtype == np.float32
    assert rows[2].tolist() == [0, 1, 0] and np.isnan(rows[1]).all()
    assert json.loads((target / "run.json").read_text())["complete"] is True


def test_rerun_replaces_and_abort_leaves_nothing(tmp_path):
    target = episode_dir(tmp_path, "ep")
    first = EpisodeWriter(target, embedding_dim=0)
    first.observe(0, 0.0, obj(1), None)
    first.close_streams()
    first.commit({"entities": []}, {"complete": True})
    second = EpisodeWriter(target, embedding_dim=0)
    second.observe(0, 0.0, obj(7), None)
    second.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep"]  # the failed rerun left no staging folder
    assert (target / "tracks.txt").read_text().startswith("1,1,")  # and did not touch the complete result
    third = EpisodeWriter(target, embedding_dim=0)
    third.observe(0, 0.0, obj(9), None)
    third.close_streams()
    third.commit({"entities": []}, {"complete": True})
    assert (target / "tracks.txt").read_text().startswith("1,9,")
    assert np.load(target / "embeddings.npy").shape == (1, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ep"]


def test_embedding_rows_read_like_the_array_without_a_memory_map(tmp_path):
    """The offline pass reads embeddings.npy by rows with plain reads: the same rows as np.load, in
    the order asked (repeats, negatives, masks, slices), and nothing mapped into the process."""
    from pathlib import Path

    from orion_core.outputs import EmbeddingRows

    rng = np.random.default_rng(0)
    array = rng.normal(size=(50, 6)).astype("<f4")
    array[7] = np.nan  # interpolated rows are NaN
    path = tmp_path / "embeddings.npy"
    np.save(path, array)
    rows = EmbeddingRows(path)
    try:
        assert rows.shape == (50, 6) and rows.ndim == 2 and len(rows) == 50
        for index in ([3, 4, 5, 40, 2, 2, 49], np.array([-1, 0, 7]), array[:, 0] > 0, slice(10, 20, 3), np.array([], int),
                      rng.permutation(50), [9, 12, 13, 30, 31, 33, 48]):
            np.testing.assert_array_equal(rows[index], array[np.asarray(index) if isinstance(index, list) else index])
        with pytest.raises(IndexError):
            rows[[50]]
        maps = Path("/proc/self/maps")
        if maps.exists():
            assert str(path) not in maps.read_text()
    finally:
        rows.close()
