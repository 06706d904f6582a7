"""orion_core.hf: hub failures as one actionable line, weights location precedence, option checks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orion_core import hf
from orion_core.errors import ConfigError, WeightsError


def http_error(cls, status: int, repo_id: str = "org/model"):
    import httpx2

    response = httpx2.Response(status, request=httpx2.Request("GET", f"https://huggingface.co/api/models/{repo_id}"))
    return cls(f"{status} Client Error for {repo_id}.\nMore text on a second line.", response=response)


def hub_errors():
    from huggingface_hub import errors

    return {
        "gated": (http_error(errors.GatedRepoError, 403), ["is gated", "https://huggingface.co/org/model", "hf auth login", "--weights DIR"]),
        "missing": (http_error(errors.RepositoryNotFoundError, 404), ["was not found", "check the model id", "--weights DIR"]),
        "invalid": (errors.HFValidationError("Repo id must be in the form 'repo_name'"), ["neither an existing path nor a valid hub id"]),
        "server": (http_error(errors.HfHubHTTPError, 500), ["could not fetch org/model", "500 Client Error", "--weights DIR"]),
    }


@pytest.mark.parametrize("kind", ["gated", "missing", "invalid", "server"])
def test_hub_errors_become_one_actionable_line(kind, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    exc, fragments = hub_errors()[kind]
    message = str(hf.hub_error(exc, "org/model", "dinov3"))
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_no_connection_and_offline_mode_are_told_apart(monkeypatch):
    import huggingface_hub.constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert "check the network" in str(hf.hub_error(LocalEntryNotFoundError("no cache"), "org/model", "dinov2"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    message = str(hf.hub_error(LocalEntryNotFoundError("no cache"), "org/model", "dinov2"))
    assert "HF_HUB_OFFLINE=1" in message and "hf download org/model --local-dir DIR" in message


def test_hub_snapshot_of_an_uncached_repo_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsError, match=r"org/not-cached is not in the local Hugging Face cache"):
        hf.hub_snapshot("org/not-cached", "dinov2")


def config(**kwargs) -> SimpleNamespace:
    return SimpleNamespace(**{"weights_dir": None, "model": None, "options": {}, **kwargs})


def test_weights_dir_wins_then_an_existing_model_path_then_the_hub(tmp_path):
    assert hf.checkpoint_location(config(weights_dir=str(tmp_path), model="org/x"), "org/default", "b") == (tmp_path, "")
    assert hf.checkpoint_location(config(model=str(tmp_path)), "org/default", "b") == (tmp_path, str(tmp_path))
    assert hf.checkpoint_location(config(model="org/x"), "org/default", "b") == (None, "org/x")
    assert hf.checkpoint_location(config(), "org/default", "b") == (None, "org/default")
    with pytest.raises(WeightsError, match="does not exist"):
        hf.checkpoint_location(config(weights_dir=str(tmp_path / "nope")), "org/default", "b")


@pytest.mark.parametrize("value", [0, -3, "448", 1.5, True])
def test_bad_options_name_the_key(value):
    with pytest.raises(ConfigError, match=r"embedding\.options\.short_side must be a positive integer"):
        hf.int_option(config(options={"short_side": value}), "short_side", 448)
    assert hf.int_option(config(), "short_side", 448) == 448


def test_qkv_bias_variant_is_chosen_only_when_the_checkpoint_has_the_bias():
    with_bias = ["blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias"]
    assert hf.prefer_qkv_bias_variant("vit_base_patch16_dinov3.lvd1689m", with_bias) == "vit_base_patch16_dinov3_qkvb.lvd1689m"
    assert hf.prefer_qkv_bias_variant("vit_base_patch16_dinov3.lvd1689m", with_bias[:1]) == "vit_base_patch16_dinov3.lvd1689m"
    assert hf.prefer_qkv_bias_variant("vit_7b_patch16_dinov3.sat493m", with_bias) == "vit_7b_patch16_dinov3.sat493m"  # no such variant


def test_timm_widths_from_names():
    assert hf.timm_width("vit_small_plus_patch16_dinov3") == 384
    assert hf.timm_width("vit_huge_plus_patch16_dinov3_qkvb") == 1280
    assert hf.timm_width("vit_giant_patch14_reg4_dinov2") == 1536
    assert hf.timm_width("vit_base_patch14_dinov2", {"embed_dim": 32}) == 32
    assert hf.timm_width("resnet50") is None
