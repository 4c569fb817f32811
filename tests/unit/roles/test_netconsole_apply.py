"""The netconsole role's boot-time apply: module_utils/_netconsole.py run by python3 as the host runs it.

The file is run with `python3 -I -S` (no site-packages, no Ansible), which proves it needs the standard library
only, on a configfs-shaped temporary tree whose target directories hold the kernel's attribute files. `ip` is
a script on PATH that prints `ip -j addr show dev eth1` as recorded on a lab VM with IPv4 and IPv6 addresses.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APPLY = Path(__file__).resolve().parents[3] / "plugins/module_utils/_netconsole.py"
UNSET = ".".join(["0"] * 4)  # what the kernel shows for an address not set yet
ATTRS = {"enabled": "0", "dev_name": "eth0", "local_ip": UNSET, "local_port": "6665", "remote_ip": UNSET,
         "remote_port": "6666", "remote_mac": "ff:ff:ff:ff:ff:ff", "local_mac": "ff:ff:ff:ff:ff:ff",
         "extended": "0"}
TARGET = {"name": "lastwords0", "dev_name": "eth1", "local_ip": "10.77.0.21", "local_port": 6665,
          "remote_ip": "10.77.0.10", "remote_port": 6666, "remote_mac": "52:54:00:77:00:01", "extended": False,
          "release": False}
ADDR_ETH1 = [
    {"ifindex": 3, "ifname": "eth1", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500,
     "operstate": "UP", "link_type": "ether", "address": "52:54:00:77:00:21", "broadcast": "ff:ff:ff:ff:ff:ff",
     "addr_info": [
         {"family": "inet", "local": "10.77.0.21", "prefixlen": 24, "broadcast": "10.77.0.255", "scope": "global",
          "label": "eth1", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "fe80::5054:ff:fe77:21", "prefixlen": 64, "scope": "link",
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "fd77::21", "prefixlen": 64, "scope": "global",
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295}]},
]


def conf(tmp_path, *targets, version=1):
    path = tmp_path / "netconsole.json"
    path.write_text(json.dumps({"version": version, "targets": [dict(TARGET, **t) for t in targets]}))
    return path


def run(tmp_path, conf_path, addresses=None, release_attr=False, names=("lastwords0",)):
    root = tmp_path / "netconsole"
    for name in names:
        target = root / name
        if not target.exists():
            target.mkdir(parents=True)
            for attr, value in ATTRS.items():
                (target / attr).write_text(value + "\n")
            if release_attr:
                (target / "release").write_text("0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "addr.json").write_text(json.dumps(ADDR_ETH1 if addresses is None else addresses))
    ip = bin_dir / "ip"
    ip.write_text('#!/bin/sh\n[ "$*" = "-j addr show dev eth1" ] || { echo "unexpected: ip $*" >&2; exit 1; }\n'
                  f'cat {tmp_path / "addr.json"}\n')
    ip.chmod(0o755)
    res = subprocess.run([sys.executable, "-I", "-S", str(APPLY), "apply", str(conf_path), "--configfs", str(root)],
                         capture_output=True, text=True, timeout=60,
                         env={"PATH": f"{bin_dir}:/usr/bin:/bin", "LC_ALL": "C"}, check=False)
    values = {name: {p.name: p.read_text().strip() for p in (root / name).iterdir()} for name in names}
    return res, values


def test_sets_up_a_target_and_enables_it(tmp_path):
    res, values = run(tmp_path, conf(tmp_path, {}))
    assert res.returncode == 0, res.stderr
    got = values["lastwords0"]
    assert got["enabled"] == "1"
    assert (got["dev_name"], got["local_ip"], got["remote_ip"]) == ("eth1", "10.77.0.21", "10.77.0.10")
    assert got["remote_mac"] == "52:54:00:77:00:01"
    assert res.stdout.startswith("lastwords-netconsole: lastwords0: 10.77.0.21:6665/eth1 -> 10.77.0.10:6666")
    assert "enabled=1" in res.stdout


def test_second_run_writes_nothing_and_says_nothing(tmp_path):
    path = conf(tmp_path, {})
    run(tmp_path, path)
    target = tmp_path / "netconsole/lastwords0"
    stamp = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    res, _values = run(tmp_path, path)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == stamp


def test_ipv6_receiver_gets_the_interfaces_global_ipv6_source(tmp_path):
    # The shell script this replaces looked for an IPv4 source (`ip -o -4`) whatever the receiver was.
    res, values = run(tmp_path, conf(tmp_path, {"local_ip": None, "remote_ip": "fd77::10"}))
    assert res.returncode == 0, res.stderr
    got = values["lastwords0"]
    assert (got["local_ip"], got["remote_ip"], got["enabled"]) == ("fd77::21", "fd77::10", "1")


def test_ipv4_receiver_with_the_source_chosen_at_boot(tmp_path):
    res, values = run(tmp_path, conf(tmp_path, {"local_ip": None}))
    assert res.returncode == 0, res.stderr
    assert values["lastwords0"]["local_ip"] == "10.77.0.21"


def test_interface_without_an_address_yet_fails_that_target_only(tmp_path):
    path = conf(tmp_path, {"local_ip": None, "remote_ip": "fd77::10"}, {"name": "lastwords1"})
    no_v6 = [dict(ADDR_ETH1[0], addr_info=ADDR_ETH1[0]["addr_info"][:1])]
    res, values = run(tmp_path, path, addresses=no_v6, names=("lastwords0", "lastwords1"))
    assert res.returncode == 1
    assert "lastwords0: cannot find local_ip: eth1 has no IPv6 address to send to fd77::10" in res.stderr
    assert values["lastwords0"]["enabled"] == "0"
    assert values["lastwords1"]["enabled"] == "1"  # the other target is set up all the same


def test_changed_receiver_is_rewritten(tmp_path):
    run(tmp_path, conf(tmp_path, {}))
    res, values = run(tmp_path, conf(tmp_path, {"remote_ip": "10.77.0.11"}))
    assert res.returncode == 0, res.stderr
    assert values["lastwords0"]["remote_ip"] == "10.77.0.11" and values["lastwords0"]["enabled"] == "1"
    assert "enabled=0" in res.stdout  # disabled first: the kernel takes attribute writes only then


def test_kernel_without_release_attribute_is_fine_unless_release_is_wanted(tmp_path):
    # Linux 6.1 has no 'release' attribute: release false must not break the target
    res, values = run(tmp_path, conf(tmp_path, {}))
    assert res.returncode == 0 and values["lastwords0"]["enabled"] == "1"
    res, _values = run(tmp_path, conf(tmp_path, {"extended": True, "release": True}))
    assert res.returncode == 1
    assert "release=true needs Linux 6.5 or later" in res.stderr


@pytest.mark.parametrize("ext, rel", [(True, True), (False, False)])
def test_extended_and_release_where_supported(tmp_path, ext, rel):
    res, values = run(tmp_path, conf(tmp_path, {"extended": ext, "release": rel}), release_attr=True)
    assert res.returncode == 0, res.stderr
    got = values["lastwords0"]
    assert (got["extended"], got["release"], got["enabled"]) == (str(int(ext)), str(int(rel)), "1")


@pytest.mark.parametrize("text, needle", [
    ("lastwords0 eth1 10.77.0.21 6665 10.77.0.10 6666 52:54:00:77:00:01 0 0\n", "is not JSON"),
    ('{"version": 7, "targets": []}', "is not a version 1 lastwords netconsole file"),
    ('{"version": 1, "targets": [{"name": "x", "remote_ip": "10.77.0.300", "dev_name": "eth1"}]}',
     "targets[0].remote_ip: '10.77.0.300' is not a valid IPv4 or IPv6 address"),
])
def test_a_file_it_cannot_use_fails_naming_the_fix(tmp_path, text, needle):
    path = tmp_path / "netconsole.json"
    path.write_text(text)
    res, values = run(tmp_path, path)
    assert res.returncode == 1
    assert needle in res.stderr
    assert values["lastwords0"]["enabled"] == "0"


def test_usage(tmp_path):
    res = subprocess.run([sys.executable, "-I", "-S", str(APPLY), "apply"], capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 2 and "usage:" in res.stderr


def test_the_role_writes_what_the_apply_reads(tmp_path):
    from ansible_collections.lastwords.panic.plugins.filter.netconsole import netconsole_conf

    resolved = dict(TARGET, local_ip=None, via="", src="10.77.0.21")  # the role's extra keys are left out
    path = tmp_path / "netconsole.json"
    path.write_text(netconsole_conf([resolved]))
    res, values = run(tmp_path, path)
    assert res.returncode == 0, res.stderr
    assert values["lastwords0"]["local_ip"] == "10.77.0.21" and values["lastwords0"]["enabled"] == "1"
    assert os.stat(path).st_size < 1024
