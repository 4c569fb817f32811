"""e2e, phase 5: crash drill on both hosts, vmcores read back, collect, soak (phase_drill)."""

from phase_drill import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
