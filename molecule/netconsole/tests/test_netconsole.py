"""netconsole scenario: phase_netconsole before the reboot (side effect) and again after it, then IPv6."""

import pytest
from phase_netconsole import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
from phase_netconsole import AFTER_REBOOT, ipv6_receiver_across_a_reboot


@pytest.mark.skipif(not AFTER_REBOOT, reason="the scenario's last test, after the reboot (the lab stays on IPv6)")
def test_an_ipv6_receiver_gets_the_log_before_and_after_a_reboot(tmp_path):
    ipv6_receiver_across_a_reboot(tmp_path)
