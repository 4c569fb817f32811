"""Lab phase: the VMs are real Debian machines that boot through GRUB from their own disk, with two kernels,
joined by the isolated lab segment. Run first (before any kernel change): the smoke scenario alone, or the start
of e2e's verify on the armed lab."""

import re

import lwtest
import pytest

HOSTS = lwtest.hosts("all")
testinfra_hosts = HOSTS
# the lab names its VMs after their image: deb12/receiver are Debian 12 (bookworm), deb13 is Debian 13 (trixie)
EXPECTED_RELEASE = {"deb12": "12", "deb13": "13", "receiver": "12"}


def test_python3_runs(host):
    out = host.check_output("python3 -c 'import sys; print(sys.version_info[0])'")
    assert out.strip() == "3"


def test_debian_release(host):
    name = host.backend.get_hostname()
    version = host.file("/etc/debian_version").content_string.strip()
    assert version.split(".")[0] == EXPECTED_RELEASE[name], version


def test_booted_through_grub_from_own_disk(host):
    cmdline = host.file("/proc/cmdline").content_string
    # GRUB's linux command adds BOOT_IMAGE=; QEMU's direct kernel boot (-kernel) never does
    assert "BOOT_IMAGE=/boot/vmlinuz-" in cmdline, cmdline
    assert re.search(r"root=UUID=[0-9a-f-]{36}", cmdline), cmdline
    assert "console=ttyS0" in cmdline
    grub_cfg = host.file("/boot/grub/grub.cfg")
    assert grub_cfg.exists
    # the MBR holds GRUB's boot code (GRUB's "GRUB " marker in the first sector)
    mbr = host.check_output("head -c 512 /dev/vda | tr -dc 'A-Z ' ")
    assert "GRUB" in mbr


def test_two_kernels_installed_and_in_grub_menu(host):
    running = host.check_output("uname -r").strip()
    releases = host.check_output("ls /boot | sed -n 's/^vmlinuz-//p'").split()
    assert len(releases) >= 2, releases
    assert running in releases
    grub_cfg = host.file("/boot/grub/grub.cfg").content_string
    for release in releases:
        assert f"vmlinuz-{release}" in grub_cfg, release
        assert host.file(f"/boot/initrd.img-{release}").exists
    # the image boots the newest kernel by default; the older one is there for rollback
    newest = sorted(releases, key=lambda r: [int(x) if x.isdigit() else x for x in re.split(r"[.+-]", r)])[-1]
    assert running == newest


def test_lab_address_configured(host):
    ip = host.ansible.get_variables()["lastwords_ip"]
    assert f" {ip}/24 " in host.check_output("ip -4 -o addr show")


@pytest.mark.parametrize("peer", HOSTS)
def test_lab_segment_reaches_peers(host, peer):
    peer_ip = lwtest.hostvars(peer)["lastwords_ip"]
    out = host.run(f"ping -c 3 -W 5 {peer_ip}")
    assert out.rc == 0, out.stdout + out.stderr
    assert " 0% packet loss" in out.stdout
