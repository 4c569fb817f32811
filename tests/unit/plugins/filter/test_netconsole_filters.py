"""The netconsole role's filters and the address tests, on the values users write and the kernel prints."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.address import host_address, ip_canonical
from ansible_collections.lastwords.panic.plugins.filter.netconsole import (
    netconsole_cmdline_targets,
    netconsole_conf,
    netconsole_param,
    netconsole_problems,
)
from ansible_collections.lastwords.panic.plugins.test.address import ip_address, ip_network


def test_good_targets_have_no_problems():
    assert netconsole_problems([{"remote_ip": "10.77.0.10"},
                                {"remote_ip": "fd77::10", "remote_port": "6667", "remote_mac": "52:54:00:AB:CD:EF",
                                 "extended": True, "release": "true", "name": "second"}]) == []


@pytest.mark.parametrize("item, message", [
    ({"remote_ip": "10.77.0.300"}, "netconsole_targets[0].remote_ip '10.77.0.300' is not a valid IPv4 or IPv6"),
    ({"remote_ip": "10.77.0.10/24"}, "netconsole_targets[0].remote_ip '10.77.0.10/24' is a network"),
    ({"remote_ip": "fe80::1%eth0"}, "has a zone index"),
    ({"remote_ip": "0.0.0.0"}, "is the unspecified address"),  # noqa: S104 - the value under test
    ({}, "netconsole_targets[0].remote_ip must be an IPv4 or IPv6 address, got None"),
    ({"remote_ip": "10.77.0.10", "remote_port": 70000}, "netconsole_targets[0].remote_port must be a UDP port"),
    ({"remote_ip": "10.77.0.10", "local_port": "x"}, "netconsole_targets[0].local_port must be a UDP port"),
    ({"remote_ip": "10.77.0.10", "remote_mac": "52:54:00:ab:cd"}, "netconsole_targets[0].remote_mac"),
    ({"remote_ip": "10.77.0.10", "release": True}, "netconsole_targets[0].release needs extended=true"),
    ({"remote_ip": "10.77.0.10", "remote_address": "x"}, "has unknown keys remote_address"),
    ({"remote_ip": "10.77.0.10", "name": "a/b"}, "netconsole_targets[0].name"),
])
def test_each_wrong_value_is_named(item, message):
    problems = netconsole_problems([item])
    assert any(message in p for p in problems), problems


def test_problems_of_a_non_list():
    assert "must be a list" in netconsole_problems({"remote_ip": "10.77.0.10"})[0]
    assert "[1] must be a mapping" in netconsole_problems([{"remote_ip": "10.77.0.10"}, "10.77.0.11"])[0]


def test_param_for_the_cmdline_mode_and_back():
    target = {"remote_ip": "10.77.0.10", "remote_port": 6666, "remote_mac": "52:54:00:77:00:01",
              "local_ip": "10.77.0.21", "local_port": 6665, "dev_name": "eth1", "extended": False, "release": False}
    param = netconsole_param(target)
    assert param == "6665@10.77.0.21/eth1,6666@10.77.0.10/52:54:00:77:00:01"
    parsed = netconsole_cmdline_targets("BOOT_IMAGE=/vmlinuz ro netconsole.netconsole=%s quiet" % param)
    assert len(parsed) == 1
    assert {k: parsed[0][k] for k in target} == target


def test_param_ipv6_and_extended():
    param = netconsole_param({"remote_ip": "FD77:0::10", "local_ip": "fd77::21", "dev_name": "vmbr0",
                              "extended": True, "release": True})
    assert param == "+r@fd77::21/vmbr0,@fd77::10/"
    assert netconsole_cmdline_targets("netconsole=" + param)[0]["remote_ip"] == "fd77::10"


def test_param_refuses_bad_values_with_the_field():
    with pytest.raises(AnsibleFilterError, match="local_ip"):
        netconsole_param({"remote_ip": "10.77.0.10", "local_ip": "fd77::21"})


def test_cmdline_without_netconsole_and_with_a_broken_one():
    assert netconsole_cmdline_targets("BOOT_IMAGE=/vmlinuz ro console=ttyS0") == []
    with pytest.raises(AnsibleFilterError, match="not readable"):
        netconsole_cmdline_targets("netconsole.netconsole=6665@10.77.0.21/eth1")
    assert netconsole_cmdline_targets("netconsole.netconsole=6665@10.77.0.21/eth1", strict=False) == []


def test_conf_keeps_only_what_the_apply_reads_and_validates():
    text = netconsole_conf([{"name": "lastwords0", "dev_name": "eth1", "local_ip": None, "local_port": 6665,
                             "remote_ip": "10.77.0.10", "remote_port": 6666, "remote_mac": None, "extended": False,
                             "release": False, "via": "", "src": "10.77.0.21"}])
    data = json.loads(text)
    assert data["version"] == 1 and set(data["targets"][0]) == {
        "name", "dev_name", "local_ip", "local_port", "remote_ip", "remote_port", "remote_mac", "extended",
        "release"}
    with pytest.raises(AnsibleFilterError, match=r"targets\[0\]\.dev_name"):
        netconsole_conf([{"name": "x", "remote_ip": "10.77.0.10", "local_port": 6665, "remote_port": 6666}])


@pytest.mark.parametrize("value, address, network", [
    ("10.77.0.10", True, True),
    ("fd77::10", True, True),
    ("FD77:0::10", True, True),
    ("10.77.0.0/24", False, True),
    ("10.77.0.5/24", False, True),
    ("fd77::/64", False, True),
    ("10.77.0.0/33", False, False),
    ("fd77::/129", False, False),
    ("10.77.0.0/", False, False),
    ("10.77.0.010", False, False),
    ("fe80::1%eth0", False, False),
    ("10.77.0", False, False),
    ("host.example", False, False),
    ("", False, False),
    (None, False, False),
    (6666, False, False),
])
def test_address_tests(value, address, network):
    assert (ip_address(value), ip_network(value)) == (address, network)


@pytest.mark.parametrize("value, canonical", [
    ("FD77:0:0::21", "fd77::21"), ("fd77::21", "fd77::21"), ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("10.77.0.21", "10.77.0.21"), ("::FFFF:a4d:15", "::ffff:10.77.0.21"), ("0:0::0", "::"),
])
def test_ip_canonical_writes_an_address_as_the_kernel_and_rsyslog_print_it(value, canonical):
    assert ip_canonical(value) == canonical


@pytest.mark.parametrize("value", ["10.77.0.300", "fd77::21/64", "fe80::1%eth1", "host1", "", None])
def test_ip_canonical_refuses_what_is_not_one_address_and_names_the_variable(value):
    with pytest.raises(AnsibleFilterError, match=r"^receiver_senders "):
        ip_canonical(value, "receiver_senders")


def test_host_address_falls_back_from_lastwords_ip_to_facts_to_ansible_host_to_the_name():
    assert host_address({"lastwords_ip": "10.77.0.10", "ansible_host": "127.0.0.1",
                         "ansible_default_ipv4": {"address": "192.0.2.5"}}, "receiver") == "10.77.0.10"
    assert host_address({"ansible_host": "127.0.0.1", "ansible_default_ipv4": {"address": "192.0.2.5"}},
                        "receiver") == "192.0.2.5"
    assert host_address({"ansible_host": "nas.lan", "ansible_facts": {"default_ipv4": {"address": "192.0.2.6"}}},
                        "nas") == "192.0.2.6"
    assert host_address({"ansible_host": "nas.lan", "ansible_default_ipv4": {}}, "nas") == "nas.lan"
    assert host_address({"lastwords_ip": ""}, "web1") == "web1"


def test_host_address_reads_ansible_hostvars_in_a_real_play(tmp_path):
    """hostvars[h] in a play is Ansible's lazy mapping, not a dict: the filter reads it there as the roles do."""
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    receiver: {lastwords_ip: 'fd77::10', ansible_host: 127.0.0.1}\n"
        "    nas: {ansible_host: '{{ \"192.0.2.\" ~ 7 }}'}\n    web1: {}\n")
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - debug:\n        msg: \"RESULT "
        "{% for h in ['receiver', 'nas', 'web1'] %}{{ hostvars[h] | lastwords.panic.host_address(h) }} "
        "{% endfor %}\"\n")
    res = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
                          "-c", "local", str(tmp_path / "play.yml")], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "RESULT fd77::10 192.0.2.7 web1 " in res.stdout, res.stdout
