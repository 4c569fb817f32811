"""netconsole scenario: phase_netconsole before the reboot (side effect) and again after it."""

from phase_netconsole import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
