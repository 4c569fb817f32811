# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The canonical text of an IP address, from module_utils/_netconsole's validator (the tests beside it agree)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import NetconsoleValueError, validate_ip


def ip_canonical(value, variable="address"):
    """``FD77:0::21`` -> ``fd77::21``: the form the kernel and rsyslog print (RFC 5952), so text compares work."""
    try:
        return validate_ip(value, variable)
    except NetconsoleValueError as exc:
        raise AnsibleFilterError("%s %s" % (exc.field, exc.reason)) from None


class FilterModule:
    def filters(self):
        return {"ip_canonical": ip_canonical}
