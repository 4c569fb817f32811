# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address tests for the roles' validation, on module_utils/_netconsole's validators (ansible.builtin has none)."""

from __future__ import annotations

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import (
    NetconsoleValueError,
    validate_ip,
    validate_network,
)


def ip_address(value):
    """True for one IPv4 or IPv6 address without prefix or zone (what netconsole and rsyslog take)."""
    try:
        validate_ip(value)
    except NetconsoleValueError:
        return False
    return True


def ip_network(value):
    """True for an address or a network in CIDR notation (host bits may be set: 10.77.0.5/24)."""
    try:
        validate_network(value)
    except NetconsoleValueError:
        return False
    return True


class TestModule:
    def tests(self):
        return {"ip_address": ip_address, "ip_network": ip_network}
