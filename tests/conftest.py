"""Test-wide setup: hubs are forced offline before anything imports them (tests never touch the
network), the caller's plugin switches are dropped, and child runs get Ctrl-C (SIGINT)."""

import os
import signal
import sys
from pathlib import Path

# importlib import mode (plugin test folders reuse file names) does not put tests/ on sys.path.
sys.path.insert(0, str(Path(__file__).parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

# Several tests interrupt an `orion run` child with SIGINT, as Ctrl-C would. A runner started in the
# background (`cmd &` in a script, nohup) has SIGINT ignored, and an ignored signal stays ignored
# across exec: the child would never see it. Handled signals reset to the default at exec, so give
# this process Python's own handler back and its children start with Ctrl-C working.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Plugin-loading switches from the caller's shell would change what the tests see.
for _name in ("ORION_STRICT_PLUGINS", "ORION_LOAD_PLUGINS"):
    os.environ.pop(_name, None)
