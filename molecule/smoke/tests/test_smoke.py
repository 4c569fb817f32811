"""smoke scenario: the lab alone (phase_lab)."""

from phase_lab import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
