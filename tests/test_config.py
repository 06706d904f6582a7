"""Configuration: aliases, validation that names the key, presets and precedence."""

from __future__ import annotations

import pytest

from orion_core.config import EmbeddingConfig, PerceptionConfig, build_config, load_yaml
from orion_core.errors import ConfigError


def test_embedding_dim_is_filled_without_loading_weights():
    assert EmbeddingConfig(backend="histogram").embedding_dim == 768


def test_dinov3_weights_dir_is_an_alias_of_weights_dir(tmp_path):
    config = EmbeddingConfig(backend="histogram", dinov3_weights_dir=tmp_path)
    assert config.weights_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="not both"):
        EmbeddingConfig(backend="histogram", weights_dir="a", dinov3_weights_dir="b")


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"device": "tpu"}, "embedding.device"),
        ({"precision": "fp8"}, "embedding.precision"),
        ({"pooling": "mean"}, "embedding.pooling"),
        ({"batch_size": 0}, "embedding.batch_size"),
        ({"exposure": "auto"}, "embedding.exposure"),
    ],
)
def test_bad_embedding_values_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        EmbeddingConfig(backend="histogram", **kwargs)


def test_presets_select_backends():
    config = PerceptionConfig.histogram_preset()
    assert config.embedding.backend == "histogram" and config.embedding.pooling == "crop"
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        build_config(preset="nope")


def test_precedence_cli_over_yaml_over_preset(tmp_path):
    path = tmp_path / "orion.yaml"
    path.write_text(
        "perception:\n"
        "  embedding: {backend: histogram, batch_size: 7}\n"
        "  tracking: {max_age: 12, appearance_weight: 1}\n"
        "  detection: {detector: mot, detections: det.txt}\n"
    )
    config = build_config(preset="histogram", yaml_path=path, overrides={"embedding": {"batch_size": 3, "device": None}, "tracking": {"min_hits": 1}})
    assert config.embedding.batch_size == 3  # CLI wins
    assert config.embedding.device == "auto"  # None means "not given"
    assert config.tracking.max_age == 12  # YAML over defaults
    assert config.tracking.appearance_weight == 1.0 and isinstance(config.tracking.appearance_weight, float)
    assert config.tracking.min_hits == 1
    assert config.detection.detector == "mot"


@pytest.mark.parametrize(
    "text, message",
    [
        ("perception:\n  tracking: {max_agee: 3}\n", "perception.tracking.max_agee: unknown key"),
        ("perception:\n  trackin: {}\n", "perception.trackin: unknown section"),
        ("perception:\n  tracking: {max_age: soon}\n", "perception.tracking.max_age: expected int | None, got str"),
        ("perception:\n  embedding: {batch_size: 2.5}\n", "perception.embedding.batch_size: expected int"),
        ("perception:\n  detection: {classes: person}\n", "perception.detection.classes: expected"),
        ("tracking: {}\n", "unknown top-level key 'tracking'"),
        ("perception: [1, 2\n", "is not valid YAML at line"),
        ("perception:\n  embedding: {backend: nosuch}\n", "unknown backend 'nosuch'"),
    ],
)
def test_yaml_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        build_config(yaml_path=path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("word, mode", [("off", "off"), ("on", "on"), ("'off'", "off"), ("auto", "auto"), ("no", "off"), ("true", "on")])
def test_cmc_on_off_unquoted_in_yaml_is_the_mode_not_a_boolean(tmp_path, word, mode):
    """YAML 1.1 reads a bare `off` as False; `cmc: off` is what the README writes, so it must mean off."""
    path = tmp_path / "c.yaml"
    path.write_text(f"perception:\n  embedding: {{backend: histogram}}\n  tracking: {{cmc: {word}}}\n")
    assert build_config(yaml_path=path).tracking.cmc == mode
    with pytest.raises(ConfigError, match="perception.tracking.cmc"):  # other types still refused, naming the key
        build_config(overrides={"embedding": {"backend": "histogram"}, "tracking": {"cmc": 0}})


@pytest.mark.parametrize("word, mode", [("off", "off"), ("on", "on"), ("false", "off"), ("'on'", "on")])
def test_exposure_on_off_unquoted_in_yaml_is_the_mode(tmp_path, word, mode):
    path = tmp_path / "c.yaml"
    path.write_text(f"perception:\n  embedding: {{backend: histogram, exposure: {word}}}\n")
    assert build_config(yaml_path=path).embedding.exposure == mode


def test_missing_yaml_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "nope.yaml")


def test_to_dict_round_trips():
    config = PerceptionConfig.histogram_preset()
    again = PerceptionConfig.from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
