"""e2e, phase 7, the last: the receiver and the first host on their IPv6 lab addresses, before and after the host's
reboot (phase_netconsole.ipv6_receiver_across_a_reboot); the lab stays on IPv6 until it is destroyed."""

from phase_netconsole import ipv6_receiver_across_a_reboot


def test_an_ipv6_receiver_gets_the_log_before_and_after_a_reboot(tmp_path):
    ipv6_receiver_across_a_reboot(tmp_path)
