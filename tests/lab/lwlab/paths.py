"""Where the lab keeps its cache (images, SSH key) and its running labs."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    """Images and the lab SSH key survive across checkouts: ``$LWLAB_CACHE`` or ``~/.cache/lastwords``."""
    base = os.environ.get("LWLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "lastwords"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def labs_dir() -> Path:
    """Running labs (overlays, serial logs, pids, inventories) live in the checkout: ``$LWLAB_DIR`` or ``.lab``."""
    path = Path(os.environ.get("LWLAB_DIR") or REPO / ".lab")
    path.mkdir(parents=True, exist_ok=True)
    return path
