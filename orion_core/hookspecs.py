"""The backend contract: three hooks make a backend, three more are optional."""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("orion")
hookimpl = HookimplMarker("orion")


@hookspec(firstresult=True)
def embedding_dim(config):
    """Return the embedding size (int) for `config` without loading weights."""


@hookspec(firstresult=True)
def load_embedder(config):
    """Load the model once for `config` (device and precision already resolved); return any object."""


@hookspec(firstresult=True)
def encode_batch(embedder, images):
    """Encode a list of HxWx3 RGB uint8 crops; return an (N, D) array (the core L2-normalises)."""


@hookspec(firstresult=True)
def encode_feature_maps(embedder, frames):
    """Optional: encode whole RGB frames (same size) to (B, D, h, w) patch features spanning each frame."""


@hookspec(firstresult=True)
def encode_clips(embedder, clips):
    """Optional: encode a list of TxHxWx3 RGB crop sequences to an (N, D) array (video-native backends)."""


@hookspec(firstresult=True)
def backend_info():
    """Optional: a dict with description, default_model, licence, reid_threshold."""
