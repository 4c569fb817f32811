"""e2e, phase 3: kdump armed on both hosts, bad input refused (phase_kdump)."""

from phase_kdump import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
