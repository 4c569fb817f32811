# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Addresses: the canonical text of one (module_utils/_netconsole's validator, as the tests beside it), and the
address the collection knows an inventory host by."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import NetconsoleValueError, validate_ip


def ip_canonical(value, variable="address"):
    """``FD77:0::21`` -> ``fd77::21``: the form the kernel and rsyslog print (RFC 5952), so text compares work."""
    try:
        return validate_ip(value, variable)
    except NetconsoleValueError as exc:
        raise AnsibleFilterError("%s %s" % (exc.field, exc.reason)) from None


def host_address(hostvars, name):
    """The address of inventory host ``name`` from its variables ``hostvars`` (``hostvars[name]``): its
    ``lastwords_ip``, else the default IPv4 address of its gathered facts, else its ``ansible_host``, else the name.

    The one fallback the roles and playbooks use: the netconsole role's default target (a receiver's address), the
    receiver's sender table (each sender's address) and the soak's iperf3 server.
    """
    for value in (hostvars.get("lastwords_ip"), _default_ipv4(hostvars), hostvars.get("ansible_host")):
        if value not in (None, ""):
            return str(value)
    return str(name)


def _default_ipv4(hostvars):
    for facts in (hostvars.get("ansible_default_ipv4"), (hostvars.get("ansible_facts") or {}).get("default_ipv4")):
        if isinstance(facts, dict) and facts.get("address"):
            return facts["address"]
    return None


def rsyslog_sender_condition(networks, variable="receiver_allowed_networks"):
    """The RainerScript condition that is true when ``$fromhost-ip`` is in one of ``networks`` (addresses or CIDR
    networks), or None for an empty list: an IPv4 network as a range of ``ip42num()``, an IPv6 address as its
    canonical text. rsyslog has no IPv6 range function, so an IPv6 network wider than one address is refused."""
    if networks is None:
        return None
    if isinstance(networks, str) or not isinstance(networks, (list, tuple)):
        raise AnsibleFilterError("%s must be a list of addresses or CIDR networks, got %r" % (variable, networks))
    parts = []
    for value in networks:
        try:
            network = ipaddress.ip_network(str(value).strip(), strict=False)
        except ValueError:
            raise AnsibleFilterError("%s: %r is not an address or a network in CIDR notation (10.77.0.0/24)"
                                     % (variable, value)) from None
        if network.version == 4:
            parts.append("(ip42num($fromhost-ip) >= %d and ip42num($fromhost-ip) <= %d)"
                         % (int(network.network_address), int(network.broadcast_address)))
        elif network.num_addresses == 1:
            parts.append('$fromhost-ip == "%s"' % network.network_address.compressed)
        else:
            raise AnsibleFilterError(
                "%s: %s is an IPv6 network; rsyslog can compare an IPv6 sender with single addresses only (it "
                "has no IPv6 range function), so list the addresses (fd77::21 or fd77::21/128)" % (variable, value))
    return " or ".join(parts) if parts else None


class FilterModule:
    def filters(self):
        return {"ip_canonical": ip_canonical, "host_address": host_address,
                "rsyslog_sender_condition": rsyslog_sender_condition}
