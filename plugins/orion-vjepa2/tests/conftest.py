"""Plugin tests never touch the network: models are tiny random ones built in tmp."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
