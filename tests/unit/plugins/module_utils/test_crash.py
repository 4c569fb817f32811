"""_crash and _deb: which debug vmlinux a dump needs, where it is looked for, how it is got, the script crash reads,
and one file out of a real .deb built here with dpkg-deb (shaped like Debian's linux-image-*-dbg: the vmlinux
under usr/lib/debug/boot/, links to it further on).

The kernel releases are those of the machines the support matrix names: Debian 12 and 13, Ubuntu, Proxmox VE,
Raspberry Pi OS, RHEL and Fedora.
"""

import os
import subprocess

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._crash import (
    command_problem,
    debug_package,
    how_to_get,
    mismatch,
    output_name,
    parse_bt,
    parse_sys,
    platform,
    script,
    summary,
    vmlinux_paths,
)
from ansible_collections.lastwords.panic.plugins.module_utils._deb import extract_member


@pytest.mark.parametrize("release, expected", [
    ("6.1.0-47-amd64", "debian"),
    ("6.12.118+deb13-amd64", "debian"),
    ("6.1.0-47-cloud-amd64", "debian"),
    ("6.1.0-27-arm64", "debian"),
    ("5.15.0-48-generic", "ubuntu"),
    ("6.8.0-1012-raspi", "ubuntu"),
    ("6.8.12-4-pve", "proxmox"),
    ("6.6.51+rpt-rpi-v8", "raspberrypi"),
    ("5.14.0-427.13.1.el9_4.x86_64", "redhat"),
    ("6.11.4-301.fc41.x86_64", "redhat"),
])
def test_whose_kernel_a_release_is(release, expected):
    assert platform(release) == expected


def test_the_debug_package_and_its_vmlinux():
    assert debug_package("6.1.0-47-amd64") == {"package": "linux-image-6.1.0-47-amd64-dbg",
                                               "member": "usr/lib/debug/boot/vmlinux-6.1.0-47-amd64"}
    assert debug_package("5.15.0-48-generic")["package"] == "linux-image-5.15.0-48-generic-dbgsym"
    for release in ("6.8.12-4-pve", "6.6.51+rpt-rpi-v8", "5.14.0-427.el9.x86_64"):
        assert debug_package(release) is None  # apt offers none (Proxmox, Pi) or dnf is the way (RHEL)


def test_where_a_vmlinux_is_looked_for():
    paths = vmlinux_paths("6.1.0-47-amd64", "/c", "6.1.170-3")
    assert paths == ["/c/vmlinux-6.1.0-47-amd64-6.1.170-3", "/c/vmlinux-6.1.0-47-amd64",
                     "/usr/lib/debug/boot/vmlinux-6.1.0-47-amd64",
                     "/usr/lib/debug/lib/modules/6.1.0-47-amd64/vmlinux", "/boot/vmlinux-6.1.0-47-amd64"]
    assert vmlinux_paths("6.1.0-47-amd64", "/c")[0] == "/c/vmlinux-6.1.0-47-amd64"  # build unknown


def test_how_to_get_it_names_the_exact_package_and_command():
    offered = how_to_get("6.1.0-47-amd64", "6.1.170-3", "/c", offered="6.1.170-3")
    assert "linux-image-6.1.0-47-amd64-dbg 6.1.170-3" in offered
    assert "lastwords_collect_crash_fetch=true" in offered
    assert "apt-get install linux-image-6.1.0-47-amd64-dbg=6.1.170-3" in offered
    assert "/c/vmlinux-6.1.0-47-amd64" in offered
    elsewhere = how_to_get("6.12.118+deb13-amd64", "6.12.118-1", "/c")
    assert "does not offer linux-image-6.12.118+deb13-amd64-dbg 6.12.118-1" in elsewhere
    assert "apt-get download linux-image-6.12.118+deb13-amd64-dbg=6.12.118-1" in elsewhere
    assert "tar -xO ./usr/lib/debug/boot/vmlinux-6.12.118+deb13-amd64 > /c/vmlinux-6.12.118+deb13-amd64" in elsewhere
    assert "ddebs.ubuntu.com" in how_to_get("5.15.0-48-generic")
    assert "dnf debuginfo-install kernel-5.14.0-427.el9.x86_64" in how_to_get("5.14.0-427.el9.x86_64")
    assert "no debug package for Proxmox VE" in how_to_get("6.8.12-4-pve")
    assert "Raspberry Pi OS" in how_to_get("6.6.51+rpt-rpi-v8")


@pytest.mark.parametrize("command", ["sys", "bt", "bt -a", "log", "ps", "kmem -i", "dis -l lwrx_refill", "net"])
def test_plain_commands_are_run(command):
    assert command_problem(command) is None


@pytest.mark.parametrize("command, words", [
    ("bt | grep x", "not a plain crash command"),
    ("log > /etc/passwd", "not a plain crash command"),
    ("!sh", "not a plain crash command"),
    ("sys\nbt", "not a plain crash command"),
    ("extend /tmp/evil.so", "leaves the dump"),
    ("q", "leaves the dump"),
    ("", "not a plain crash command"),
    (7, "not a plain crash command"),
])
def test_anything_else_is_refused_with_the_reason(command, words):
    assert words in command_problem(command)


def test_the_script_sends_each_command_to_its_own_file():
    assert output_name(0, "sys") == "01-sys.txt"
    assert output_name(2, "bt -a") == "03-bt-a.txt"
    assert script(["sys", "bt -a"], "/w") == "sys > /w/01-sys.txt\nbt -a > /w/02-bt-a.txt\nquit\n"


def test_a_mismatch_is_found_in_what_crash_says():
    said = ("WARNING: kernel relocated [324MB]: patching 105532 gdb minimal_symbol values\n\n"
            "crash: vmlinux-6.1.0-56-amd64 and dump.202612031010 do not match!\n")
    assert mismatch(said) == "crash: vmlinux-6.1.0-56-amd64 and dump.202612031010 do not match!"
    assert mismatch("      KERNEL: /c/vmlinux\n") is None


def _deb(tmp_path, compression):
    tree = tmp_path / "pkg"
    boot = tree / "usr" / "lib" / "debug" / "boot"
    boot.mkdir(parents=True)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN" / "control").write_text("Package: linux-image-6.1.0-99-amd64-dbg\nVersion: 6.1.199-1\n"
                                             "Architecture: amd64\nMaintainer: x <x@example.org>\nDescription: x\n")
    (boot / "System.map-6.1.0-99-amd64").write_text("ffffffff81000000 T _text\n")
    (boot / "vmlinux-6.1.0-99-amd64").write_bytes(b"\x7fELF" + os.urandom(3 << 20))
    modules = tree / "usr" / "lib" / "debug" / "lib" / "modules" / "6.1.0-99-amd64"
    modules.mkdir(parents=True)
    (modules / "vmlinux").symlink_to("../../../boot/vmlinux-6.1.0-99-amd64")
    deb = tmp_path / "dbg.deb"
    res = subprocess.run(["dpkg-deb", "--root-owner-group", "-Z" + compression, "--build", str(tree), str(deb)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip("this dpkg-deb cannot write %s: %s" % (compression, res.stderr.strip()))
    return deb, (boot / "vmlinux-6.1.0-99-amd64").read_bytes()


def test_the_vmlinux_comes_out_of_the_package_and_nothing_else(tmp_path):
    deb, vmlinux = _deb(tmp_path, "xz")
    out = tmp_path / "out"
    out.mkdir()
    found = extract_member(str(deb), ["usr/lib/debug/boot/vmlinux-6.1.0-99-amd64"], str(out))
    assert found == str(out / "vmlinux-6.1.0-99-amd64")
    assert open(found, "rb").read() == vmlinux
    assert os.listdir(out) == ["vmlinux-6.1.0-99-amd64"]
    # a link is never what is copied out
    assert extract_member(str(deb), ["usr/lib/debug/lib/modules/*/vmlinux"], str(out)) is None


def test_a_zstd_package_goes_through_dpkg_deb(tmp_path):
    from test_changelog import ShellRunner  # the same real runner

    deb, vmlinux = _deb(tmp_path, "zstd")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match="dpkg-deb is needed"):
        extract_member(str(deb), ["usr/lib/debug/boot/vmlinux-*"], str(out))
    found = extract_member(str(deb), ["usr/lib/debug/boot/vmlinux-*"], str(out), ShellRunner())
    assert open(found, "rb").read() == vmlinux
    assert os.listdir(out) == ["vmlinux-6.1.0-99-amd64"]  # the tree it went through is gone


# crash 8.0.2's own output on the experiment scenario's vmcores (Debian 12, 6.1.0-47, the test module's
# receive-path oops with kdump loaded), recorded as crash wrote it: data/crash-6.1.0-47/
CRASH_DATA = os.path.join(os.path.dirname(__file__), "data", "crash-6.1.0-47")


def _crash_file(name):
    with open(os.path.join(CRASH_DATA, name)) as handle:
        return handle.read()


def test_what_crash_said_of_a_real_vmcore_is_read_back():
    facts = parse_sys(_crash_file("01-sys.txt"))
    assert facts["release"] == "6.1.0-47-amd64"
    assert facts["panic"] == "Oops: 0000 [#1] PREEMPT SMP NOPTI"
    stack = parse_bt(_crash_file("02-bt.txt"))
    assert stack["exception"].startswith("lwrx_refill+"), stack
    assert ("lwrx_rcv", "lastwords_rxbug") in [(f["function"], f["module"]) for f in stack["frames"]]
    assert "net_rx_action" in [f["function"] for f in stack["frames"]]
    assert (stack["pid"], stack["command"], stack["cpu"]) == (14, "ksoftirqd/0", 0)
    line = summary(facts, stack, "6.1.0-47-amd64")
    assert line.startswith("crash on 6.1.0-47-amd64: ") and " at lwrx_refill+" in line, line
