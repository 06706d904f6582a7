"""Tests never touch the network: hubs are forced offline before anything imports them."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

# Plugin-loading switches from the caller's shell would change what the tests see.
for _name in ("ORION_STRICT_PLUGINS", "ORION_LOAD_PLUGINS"):
    os.environ.pop(_name, None)
