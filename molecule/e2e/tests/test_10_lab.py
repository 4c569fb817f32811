"""e2e, phase 1: the lab itself (phase_lab)."""

from phase_lab import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
