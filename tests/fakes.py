"""In-process fake backends for core tests (registered with `register_backend`, never via pip)."""

from __future__ import annotations

import types

import numpy as np

from orion_core import hookimpl


def make_backend(dim: int = 8, result=None, fail: Exception | None = None, feature_maps=None, calls: list | None = None):
    """A module-like object with the three required hooks; `result(images)` overrides the output."""

    @hookimpl
    def embedding_dim(config):
        return dim

    @hookimpl
    def load_embedder(config):
        return {"config": config}

    @hookimpl
    def encode_batch(embedder, images):
        if calls is not None:
            calls.append(len(images))
        if fail is not None:
            raise fail
        if result is not None:
            return result(images)
        return np.stack([np.resize(img.mean(axis=(0, 1)).astype(np.float32) + 1.0, dim) for img in images])

    namespace = dict(embedding_dim=embedding_dim, load_embedder=load_embedder, encode_batch=encode_batch)
    if feature_maps is not None:

        @hookimpl
        def encode_feature_maps(embedder, frames):
            return feature_maps(frames)

        namespace["encode_feature_maps"] = encode_feature_maps
    module = types.ModuleType("orion_fake_backend")
    module.__dict__.update(namespace)
    return module
