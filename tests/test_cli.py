"""The `orion` command: cheap to start, lists backends, the same one-line errors everywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from orion_core.cli import main
from orion_core.plugins import default_backend


def test_help_imports_no_heavy_libraries():
    code = (
        "import sys\nfrom orion_core.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'cv2', 'ultralytics', 'transformers', 'timm', 'trackeval', 'ray') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Commands" in result.stdout and "run" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_plugins_json_lists_every_first_party_backend(capsys):
    main(["plugins", "--json"])
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert {"histogram", "dinov2", "dinov3", "vjepa2", "mobilenetv2"} <= set(rows)
    for name in ("histogram", "dinov2", "dinov3", "vjepa2", "mobilenetv2"):
        assert rows[name]["status"] == "ok", rows[name]
    assert rows["histogram"]["embedding_dim"] == 768
    assert rows["mobilenetv2"]["embedding_dim"] == 1280
    assert rows["dinov2"]["embedding_dim"] == 384 and rows["dinov2"]["default_model"] == "facebook/dinov2-small"
    # the strongest installed backend whose weights are here (tests/test_trust_api.py pins the choice)
    assert [name for name, row in rows.items() if row["default"]] == [default_backend()]
    assert rows["dinov3"]["hooks"] == ["backend_info", "embedding_dim", "encode_batch", "encode_feature_maps", "load_embedder"]


def test_unknown_backend_is_one_line_without_traceback(capsys, tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        main(["run", str(video), "--backend", "nosuch", "--detections", "det.txt"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: unknown backend 'nosuch'; installed backends: ")
    assert "dinov2" in err[0] and "histogram" in err[0]


def test_version(capsys):
    main(["--version"])
    assert "0.2.0" in capsys.readouterr().out


def test_bare_orion_shows_help(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: orion") and "Commands" in out and "\n" in out.strip()


def test_run_summary_says_what_the_offline_pass_left_out():
    from orion_core.cli.run import summary_line

    counts = {"frames": 70, "observations": 300, "tracks": 6, "entities": 4, "reidentified": 1}
    assert summary_line("ep", counts) == "ep: 70 frames, 300 observations, 6 tracks -> 4 entities (1 re-identified)"
    line = summary_line("ep", {**counts, "dropped_entities": 2, "trimmed_rows": 6})
    assert line.endswith("(1 re-identified; left out: 2 unsupported entities, 6 rows of unsupported starts/ends, "
                         "see run.json offline)")
    one = summary_line("ep", {**counts, "dropped_entities": 1, "trimmed_rows": 0})
    assert one.endswith("(1 re-identified; left out: 1 unsupported entity, see run.json offline)")
