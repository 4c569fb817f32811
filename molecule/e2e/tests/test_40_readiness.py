"""e2e, phase 4: readiness and every breakage named (phase_readiness)."""

from phase_readiness import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
