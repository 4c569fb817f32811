"""Progress output for long lab operations: what is being done and how long it took."""

import contextlib
import sys
import time

_T0 = time.monotonic()


def say(msg: str) -> None:
    """Print one progress line, prefixed with the seconds since the tool started."""
    print(f"[lwlab {time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(what: str):
    """Announce ``what``, run the block, then report its duration (or that it failed and after how long)."""
    say(f"{what} ...")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{what}: FAILED after {time.monotonic() - start:.1f}s")
        raise
    say(f"{what}: done in {time.monotonic() - start:.1f}s")
