"""Tests never touch the network: hubs are forced offline before anything imports them."""

import os
import sys
from pathlib import Path

# importlib import mode (plugin test folders reuse file names) does not put tests/ on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

# Plugin-loading switches from the caller's shell would change what the tests see.
for _name in ("ORION_STRICT_PLUGINS", "ORION_LOAD_PLUGINS"):
    os.environ.pop(_name, None)
