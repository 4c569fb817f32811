"""netconsole_target on temporary configfs trees.

KernelTarget is the module's own ConfigfsTarget with its three filesystem primitives replaced by what the
kernel does (drivers/net/netconsole.c): mkdir fills the directory with attribute files holding the defaults,
rmdir removes a directory that still shows files, and a write is refused (EINVAL) while the target is
enabled, when it would not change `enabled`, when it enables release without extended, or when it puts an
IPv4 address in a target that holds IPv6 ones (6.1's local_ip_store). Everything else is real files.

HostNetwork is driven by a table of `ip -j` outputs in iproute2's real JSON shapes; no packet is sent.
"""

import errno
import ipaddress
import json
import os
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import (
    ConfigfsTarget,
    HostNetwork,
    NetconsoleValueError,
    TargetError,
    choose_local_ip,
    run,
)
from ansible_collections.lastwords.panic.plugins.modules import netconsole_target

DEV_MACS = {"eth0": "52:54:00:12:34:56", "eth1": "52:54:00:65:43:21"}
RECEIVER_MAC = "52:54:00:ab:cd:ef"
GATEWAY_MAC = "52:55:0a:00:02:02"


def kernel_defaults(release=True, transmit_errors=True):
    files = {
        "enabled": "0",
        "extended": "0",
        "dev_name": "eth0",
        "local_port": "6665",
        "remote_port": "6666",
        "local_ip": "0.0.0.0",  # noqa: S104 - the kernel's unset address
        "remote_ip": "0.0.0.0",  # noqa: S104
        "local_mac": "ff:ff:ff:ff:ff:ff",
        "remote_mac": "ff:ff:ff:ff:ff:ff",
    }
    if release:
        files["release"] = "0"
    if transmit_errors:
        files["transmit_errors"] = "0"
    return files


def populate(path, files):
    os.makedirs(path)
    for attr, value in files.items():
        with open(os.path.join(path, attr), "w") as handle:
            handle.write(value + "\n")


class KernelTarget(ConfigfsTarget):
    """ConfigfsTarget whose primitives behave like the kernel's configfs on a temporary tree."""

    release_supported = True

    def _mkdir(self):
        populate(self.path, kernel_defaults(release=self.release_supported))

    def _rmdir(self):
        if self.read("enabled") == "1":
            raise OSError(errno.EBUSY, "target still enabled")  # not the kernel's rule; catches bad order
        shutil.rmtree(self.path)

    def _put(self, attr, value):
        with open(os.path.join(self.path, attr), "w") as handle:
            handle.write(value + "\n")

    def _store(self, path, data):
        attr = os.path.basename(path)
        value = data.decode().rstrip("\n")
        if not os.path.exists(path):
            raise OSError(errno.ENOENT, "No such file or directory")
        if attr in ("local_mac", "transmit_errors"):
            raise OSError(errno.EACCES, "Permission denied")
        enabled = self.read("enabled") == "1"
        if attr != "enabled":
            if enabled:
                raise OSError(errno.EINVAL, "Invalid argument")  # "target is enabled, disable to update"
            if attr in ("local_ip", "remote_ip"):
                address = ipaddress.ip_address(value)
                held_v6 = ":" in self.read("local_ip") + self.read("remote_ip")
                if address.version == 4 and held_v6:
                    raise OSError(errno.EINVAL, "Invalid argument")
                value = str(address)
            if attr == "remote_mac":
                value = value.lower()
            if attr.endswith("_port"):
                value = str(int(value))
            self._put(attr, value)
            return
        wanted = value == "1"
        if wanted == enabled:
            raise OSError(errno.EINVAL, "Invalid argument")  # "network logging has already started"
        if wanted:
            if self.read("release") == "1" and self.read("extended") != "1":
                raise OSError(errno.EINVAL, "Invalid argument")
            device = self.read("dev_name")
            if device not in DEV_MACS:
                raise OSError(errno.ENODEV, "No such device")
            self._put("local_mac", DEV_MACS[device])
        else:
            self._put("local_mac", "ff:ff:ff:ff:ff:ff")
        self._put("enabled", value)


def params(**overrides):
    base = {
        "name": "lastwords",
        "state": "present",
        "enabled": True,
        "dev_name": "eth1",
        "local_ip": "192.168.50.21",
        "local_port": 6665,
        "remote_ip": "192.168.50.10",
        "remote_port": 6666,
        "remote_mac": RECEIVER_MAC,
        "extended": True,
        "release": False,
        "resolve_timeout": 3.0,
        "configfs_root": None,
    }
    base.update(overrides)
    return base


class NoNetwork(HostNetwork):
    """For runs whose options leave nothing to look up: any lookup fails the test."""

    def __init__(self):
        super().__init__(self._refuse, "/usr/sbin/ip")

    def _refuse(self, args, **kwargs):
        raise AssertionError("unexpected command %r" % (args,))


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "sys" / "kernel" / "config" / "netconsole"
    path.mkdir(parents=True)
    return str(path)


def apply(root, check_mode=False, want_diff=False, target_cls=KernelTarget, net=None, **overrides):
    options = params(configfs_root=root, **overrides)
    target = target_cls(root, options["name"])
    return run(options, target, net or NoNetwork(), check_mode=check_mode, want_diff=want_diff), target


def attrs(root, name="lastwords"):
    path = os.path.join(root, name)
    return {attr: open(os.path.join(path, attr)).read().strip() for attr in sorted(os.listdir(path))}


def tree(root):
    snapshot = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            snapshot[path] = open(path).read()
        snapshot[directory] = None
    return snapshot


def existing_enabled_target(root, **overrides):
    result, _target = apply(root, **overrides)
    assert result["enabled"] is True
    return result


# --------------------------------------------------------------------------------------------- create / change


def test_create_writes_only_what_differs_from_the_kernel_defaults_then_enables(root):
    result, target = apply(root)
    assert result["changed"] is True
    assert target.writes == [
        "mkdir",
        "dev_name=eth1",
        "local_ip=192.168.50.21",
        "remote_ip=192.168.50.10",
        "remote_mac=%s" % RECEIVER_MAC,
        "extended=1",
        "enabled=1",
    ]
    assert attrs(root) == {
        "dev_name": "eth1",
        "enabled": "1",
        "extended": "1",
        "local_ip": "192.168.50.21",
        "local_mac": DEV_MACS["eth1"],
        "local_port": "6665",
        "release": "0",
        "remote_ip": "192.168.50.10",
        "remote_mac": RECEIVER_MAC,
        "remote_port": "6666",
        "transmit_errors": "0",
    }
    assert {key: result[key] for key in ("enabled", "extended", "release", "local_port", "transmit_errors")} == {
        "enabled": True,
        "extended": True,
        "release": False,
        "local_port": 6665,
        "transmit_errors": 0,
    }
    assert result["local_mac"] == DEV_MACS["eth1"]


def test_second_run_changes_nothing(root):
    apply(root)
    before = tree(root)
    result, target = apply(root, remote_mac=RECEIVER_MAC.upper())
    assert result["changed"] is False
    assert target.writes == []
    assert tree(root) == before


def test_ipv6_values_compare_by_value(root):
    apply(root, local_ip="fd00::21", remote_ip="fd00::10")
    result, target = apply(root, local_ip="fd00:0:0::21", remote_ip="FD00::0010")
    assert (result["changed"], target.writes) == (False, [])
    assert attrs(root)["remote_ip"] == "fd00::10"


def test_change_on_enabled_target_disables_writes_then_enables(root):
    existing_enabled_target(root)
    result, target = apply(root, remote_port=514, remote_mac="52:54:00:AB:CD:00")
    assert result["changed"] is True
    assert target.writes == ["enabled=0", "remote_port=514", "remote_mac=52:54:00:ab:cd:00", "enabled=1"]
    assert attrs(root)["remote_port"] == "514"
    assert result["remote_port"] == 514
    assert result["enabled"] is True


def test_the_fake_kernel_refuses_writes_while_enabled(root):
    # Proves the order test above can fail: a write while enabled is refused as by the kernel.
    existing_enabled_target(root)
    target = KernelTarget(root, "lastwords")
    with pytest.raises(TargetError) as info:
        target.write("remote_port", "514")
    assert "Invalid argument" in info.value.msg
    with pytest.raises(TargetError):
        target.write("enabled", "1")  # already started


def test_disable_only_writes_enabled(root):
    existing_enabled_target(root)
    result, target = apply(root, enabled=False)
    assert target.writes == ["enabled=0"]
    assert result["enabled"] is False
    assert attrs(root)["local_mac"] == "ff:ff:ff:ff:ff:ff"


def test_change_to_a_disabled_target_leaves_it_disabled(root):
    apply(root, enabled=False)
    result, target = apply(root, enabled=False, extended=False)
    assert target.writes == ["extended=0"]
    assert result["enabled"] is False


def test_ipv6_to_ipv4_recreates_the_target(root):
    apply(root, local_ip="fd00::21", remote_ip="fd00::10")
    result, target = apply(root)
    assert target.writes[:3] == ["enabled=0", "rmdir", "mkdir"]
    assert target.writes[-1] == "enabled=1"
    assert attrs(root)["remote_ip"] == "192.168.50.10"
    assert result["changed"] is True


def test_release_needs_a_kernel_that_has_it(root):
    class OldKernel(KernelTarget):
        release_supported = False

    with pytest.raises(TargetError, match=r"Linux 6\.5"):
        apply(root, target_cls=OldKernel, release=True)
    result, target = apply(root, target_cls=OldKernel)
    assert result["release"] is False
    assert not any(write.startswith("release=") for write in target.writes)
    assert "release" not in attrs(root)


def test_kernel_refusing_to_enable_is_explained(root):
    with pytest.raises(TargetError) as info:
        apply(root, dev_name="eth9")
    assert "enabled=1" in info.value.msg
    assert "dmesg" in info.value.msg
    assert info.value.details["failed_write"] == "enabled=1"
    assert attrs(root)["enabled"] == "0"


# --------------------------------------------------------------------------------------------- check mode, diff


def test_check_mode_on_missing_target_predicts_and_writes_nothing(root):
    before = tree(root)
    result, target = apply(root, check_mode=True, want_diff=True)
    assert tree(root) == before
    assert result["changed"] is True
    assert target.writes == [
        "mkdir",
        "dev_name=eth1",
        "local_ip=192.168.50.21",
        "remote_ip=192.168.50.10",
        "remote_mac=%s" % RECEIVER_MAC,
        "extended=1",
        "enabled=1",
    ]
    assert result["diff"]["before"] == {"state": "absent"}
    assert result["diff"]["after"]["remote_mac"] == RECEIVER_MAC
    assert result["local_mac"] is None
    # The prediction is what a real run then does.
    _real, real_target = apply(root)
    assert real_target.writes == target.writes


def test_check_mode_on_enabled_target_reports_the_plan(root):
    existing_enabled_target(root)
    before = tree(root)
    result, target = apply(root, check_mode=True, want_diff=True, remote_port=514)
    assert tree(root) == before
    assert target.writes == ["enabled=0", "remote_port=514", "enabled=1"]
    assert result["diff"]["before"]["remote_port"] == 6666
    assert result["diff"]["after"]["remote_port"] == 514
    assert result["remote_port"] == 514


def test_unchanged_diff_is_equal(root):
    existing_enabled_target(root)
    result, _target = apply(root, want_diff=True)
    assert result["diff"]["before"] == result["diff"]["after"]


# --------------------------------------------------------------------------------------------- absent


def test_absent_disables_then_removes(root):
    existing_enabled_target(root)
    result, target = apply(root, state="absent", want_diff=True)
    assert target.writes == ["enabled=0", "rmdir"]
    assert result["changed"] is True
    assert not os.path.exists(os.path.join(root, "lastwords"))
    assert result["diff"]["after"] == {"state": "absent"}
    again, target = apply(root, state="absent")
    assert (again["changed"], target.writes) == (False, [])


def test_absent_in_check_mode_keeps_the_target(root):
    existing_enabled_target(root)
    result, target = apply(root, state="absent", check_mode=True)
    assert result["changed"] is True
    assert target.writes == ["enabled=0", "rmdir"]
    assert attrs(root)["enabled"] == "1"


def test_absent_without_configfs_is_already_done(tmp_path):
    result, _target = apply(str(tmp_path / "missing"), state="absent")
    assert result["changed"] is False


def test_present_without_configfs_says_how_to_fix(tmp_path):
    with pytest.raises(TargetError) as info:
        apply(str(tmp_path / "missing"))
    assert "modprobe netconsole" in info.value.msg
    assert "mount -t configfs" in info.value.msg


def test_real_rmdir_refusal_names_userdata(root):
    apply(root)
    os.makedirs(os.path.join(root, "lastwords", "userdata", "dc"))

    class PlainRmdir(KernelTarget):
        def _rmdir(self):
            raise OSError(errno.ENOTEMPTY, "Directory not empty")

    with pytest.raises(TargetError, match="userdata"):
        apply(root, state="absent", target_cls=PlainRmdir)


# --------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"remote_mac": "52-54-00-ab-cd-ef"}, "remote_mac"),
        ({"dev_name": "enp0s20f0u1u2u3x"}, "dev_name"),
        ({"remote_port": 0}, "remote_port"),
        ({"local_port": 70000}, "local_port"),
        ({"local_ip": "fd00::21"}, "local_ip"),
        ({"remote_ip": "192.168.50.300"}, "remote_ip"),
        ({"release": True, "extended": False}, "release"),
        ({"name": "../etc"}, "name"),
    ],
)
def test_invalid_input_fails_before_any_write(root, overrides, field):
    apply(root, enabled=False)
    before = tree(root)
    with pytest.raises(NetconsoleValueError) as info:
        apply(root, **overrides)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")
    assert tree(root) == before


# --------------------------------------------------------------------------------------------- host network

ROUTE_DIRECT = [
    {"dst": "192.168.50.10", "dev": "eth1", "prefsrc": "192.168.50.21", "flags": [], "uid": 0, "cache": []}
]
ROUTE_VIA_GATEWAY = [
    {"dst": "203.0.113.7", "gateway": "10.0.2.2", "dev": "eth0", "prefsrc": "10.0.2.15", "flags": [], "uid": 0,
     "cache": []}
]
ROUTE_LOCAL = [{"type": "local", "dst": "192.168.50.21", "dev": "lo", "prefsrc": "192.168.50.21", "flags": [],
                "uid": 0, "cache": ["local"]}]
ADDR_ETH1 = [
    {"ifindex": 3, "ifname": "eth1", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500,
     "operstate": "UP", "link_type": "ether", "address": DEV_MACS["eth1"], "broadcast": "ff:ff:ff:ff:ff:ff",
     "addr_info": [
         {"family": "inet", "local": "192.168.50.21", "prefixlen": 24, "broadcast": "192.168.50.255",
          "scope": "global", "label": "eth1", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet", "local": "192.168.50.99", "prefixlen": 24, "scope": "global", "secondary": True,
          "label": "eth1", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "fe80::5054:ff:fe65:4321", "prefixlen": 64, "scope": "link",
          "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
         {"family": "inet6", "local": "fd00::21", "prefixlen": 64, "scope": "global", "dynamic": True,
          "mngtmpaddr": True, "valid_life_time": 86227, "preferred_life_time": 14227}]},
]


def neigh(address, mac=None, state="REACHABLE"):
    entry = {"dst": address, "state": [state]}
    if mac:
        entry["lladdr"] = mac
    return [entry]


class ScriptedNetwork(HostNetwork):
    """HostNetwork answering `ip -j` from a table; probe() and sleep() are recorded, not performed."""

    def __init__(self, answers, timeout=3.0):
        self.answers = answers
        self.commands = []
        self.probes = []
        self.now = 0.0
        super().__init__(self._run, "/usr/sbin/ip", timeout=timeout, sleep=self._sleep, clock=lambda: self.now)

    def _sleep(self, seconds):
        self.now += seconds

    def _run(self, args, environ_update=None):
        assert args[:2] == ["/usr/sbin/ip", "-j"]
        assert environ_update == {"LC_ALL": "C"}
        key = " ".join(args[2:])
        self.commands.append(key)
        answer = self.answers[key]
        if isinstance(answer, list) and answer and isinstance(answer[0], list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]  # successive answers
        if isinstance(answer, tuple):
            return answer
        return 0, json.dumps(answer), ""

    def probe(self, address, dev):
        self.probes.append((address, dev))


def test_remote_mac_on_a_direct_subnet_is_the_receivers(root):
    net = ScriptedNetwork({
        "route get 192.168.50.10 oif eth1": ROUTE_DIRECT,
        "neigh show to 192.168.50.10 dev eth1": neigh("192.168.50.10", RECEIVER_MAC.upper()),
    })
    result, _target = apply(root, remote_mac=None, net=net)
    assert result["remote_mac"] == RECEIVER_MAC
    assert net.probes == []


def test_remote_mac_behind_a_router_is_the_gateways(root):
    net = ScriptedNetwork({
        "route get 203.0.113.7 oif eth0": ROUTE_VIA_GATEWAY,
        "neigh show to 10.0.2.2 dev eth0": neigh("10.0.2.2", GATEWAY_MAC, "STALE"),
    })
    result, _target = apply(root, remote_mac=None, remote_ip="203.0.113.7", dev_name="eth0", local_ip="10.0.2.15",
                            net=net)
    assert result["remote_mac"] == GATEWAY_MAC
    assert "neigh show to 10.0.2.2 dev eth0" in net.commands


def test_empty_neighbour_table_is_probed_then_polled(root):
    net = ScriptedNetwork({
        "route get 192.168.50.10 oif eth1": ROUTE_DIRECT,
        "neigh show to 192.168.50.10 dev eth1": [[], [], neigh("192.168.50.10", RECEIVER_MAC, "DELAY")],
    })
    result, _target = apply(root, remote_mac=None, net=net)
    assert result["remote_mac"] == RECEIVER_MAC
    assert net.probes == [("192.168.50.10", "eth1")]
    assert net.commands.count("neigh show to 192.168.50.10 dev eth1") == 3


def test_unresolvable_mac_fails_naming_remote_mac_after_a_bounded_wait(root):
    net = ScriptedNetwork(
        {
            "route get 192.168.50.10 oif eth1": ROUTE_DIRECT,
            "neigh show to 192.168.50.10 dev eth1": neigh("192.168.50.10", state="FAILED"),
        },
        timeout=1.0,
    )
    before = tree(root)
    with pytest.raises(TargetError) as info:
        apply(root, remote_mac=None, net=net)
    assert "remote_mac" in info.value.msg
    assert "ff:ff:ff:ff:ff:ff" in info.value.msg
    assert net.now == pytest.approx(1.0)
    assert net.commands.count("neigh show to 192.168.50.10 dev eth1") == 6  # once, then every 0.2 s for 1 s
    assert tree(root) == before


def test_receiver_that_is_this_host_is_refused(root):
    net = ScriptedNetwork({"route get 192.168.50.21 oif eth1": ROUTE_LOCAL})
    with pytest.raises(TargetError, match="local address"):
        apply(root, remote_mac=None, remote_ip="192.168.50.21", net=net)


def test_dev_name_and_local_ip_come_from_the_route_and_interface(root):
    net = ScriptedNetwork({
        "route get 192.168.50.10": ROUTE_DIRECT,
        "addr show dev eth1": ADDR_ETH1,
    })
    result, _target = apply(root, dev_name=None, local_ip=None, net=net)
    assert (result["dev_name"], result["local_ip"]) == ("eth1", "192.168.50.21")


def test_unreachable_receiver_reports_iproutes_words(root):
    net = ScriptedNetwork({"route get 198.51.100.1": (2, "", "RTNETLINK answers: Network is unreachable\n")})
    with pytest.raises(TargetError) as info:
        apply(root, dev_name=None, remote_ip="198.51.100.1", net=net)
    assert "dev_name" in info.value.msg
    assert "Network is unreachable" in info.value.msg


def test_missing_ip_command_says_what_to_set(root):
    with pytest.raises(TargetError) as info:
        apply(root, local_ip=None, net=HostNetwork(None, None))
    assert "iproute2" in info.value.msg
    assert "local_ip" in info.value.msg


def test_choose_local_ip_matches_version_and_scope():
    addresses = HostNetwork(lambda args, environ_update: (0, json.dumps(ADDR_ETH1), ""), "ip").addresses("eth1")
    assert addresses[0] == (4, "192.168.50.21", "global")
    assert choose_local_ip(addresses, "192.168.50.10") == "192.168.50.21"
    assert choose_local_ip(addresses, "fd00::10") == "fd00::21"
    assert choose_local_ip(addresses, "fe80::1") == "fe80::5054:ff:fe65:4321"
    assert choose_local_ip([(4, "127.0.0.1", "host")], "127.0.0.2") is None


def test_interface_without_address_fails_naming_local_ip(root):
    net = ScriptedNetwork({"addr show dev eth1": [{"ifindex": 3, "ifname": "eth1", "addr_info": []}]})
    with pytest.raises(TargetError) as info:
        apply(root, local_ip=None, net=net)
    assert "local_ip" in info.value.msg
    assert "eth1" in info.value.msg


# --------------------------------------------------------------------------------------------- main()


def run_main(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        netconsole_target.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_main_end_to_end_on_a_created_target(root, capsys):
    # The kernel already made the directory (as after `mkdir`): main() runs the real ConfigfsTarget.
    populate(os.path.join(root, "lastwords"), kernel_defaults())
    args = dict(params(configfs_root=root), _ansible_diff=True)
    code, result = run_main(args, capsys)
    assert code == 0
    assert result["changed"] is True
    assert result["writes"][-1] == "enabled=1"
    assert result["diff"]["before"]["enabled"] is False
    assert attrs(root)["remote_mac"] == RECEIVER_MAC
    assert attrs(root)["enabled"] == "1"


def test_main_check_mode_and_failure_messages(root, tmp_path, capsys):
    populate(os.path.join(root, "lastwords"), kernel_defaults())
    before = tree(root)
    code, result = run_main(dict(params(configfs_root=root), _ansible_check_mode=True), capsys)
    assert (code, result["changed"]) == (0, True)
    assert tree(root) == before

    code, result = run_main(params(configfs_root=root, remote_mac="zz:54:00:ab:cd:ef"), capsys)
    assert code == 1
    assert result["failed"] is True
    assert result["msg"].startswith("remote_mac: ")

    code, result = run_main(params(configfs_root=str(tmp_path / "nowhere")), capsys)
    assert code == 1
    assert "modprobe netconsole" in result["msg"]
