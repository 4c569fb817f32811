"""e2e, phase 2: netconsole on the armed lab (phase_netconsole)."""

from phase_netconsole import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
