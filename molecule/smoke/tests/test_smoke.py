"""smoke scenario: the lab alone (phase_lab)."""

from phase_lab import *  # noqa: F403
