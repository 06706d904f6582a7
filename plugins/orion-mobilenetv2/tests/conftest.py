"""Plugin tests never touch the network (this backend needs none, but nothing may reach for it)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
