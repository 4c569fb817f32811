"""_changelog and kernel_changelog's reading of a .deb: the newer kernels apt offers and what their changelog says.

Recorded on a Debian 12 machine (data/apt-bookworm/): ``apt-cache pkgnames`` (the kernel packages of its lists),
``LC_ALL=C apt-cache policy`` of the amd64 ones, and the head of the changelog that
``linux-image-6.1.0-47-amd64_6.1.170-3_amd64.deb`` carries (the signed package's entry, then the kernel's own
entries down to 6.1.158-1; its Unicode quotes made ASCII, as the sanity test wants). The Ubuntu, Proxmox and
Raspberry Pi package names are those distributions' naming.
"""

import gzip
import os
import subprocess

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._changelog import (
    between,
    flavour,
    kernel_packages,
    mentions,
    newer,
    newest_of_series,
    parse_changelog,
    policy_candidates,
    suspects,
)
from ansible_collections.lastwords.panic.plugins.module_utils._kernel import build_version
from ansible_collections.lastwords.panic.plugins.modules.kernel_changelog import read_deb_changelog, summarize

DATA = os.path.join(os.path.dirname(__file__), "..", "modules", "data", "apt-bookworm")
CHANGELOG = os.path.join(DATA, "changelog-linux-image-6.1.0-47-amd64_6.1.170-3.txt")


def data(name):
    with open(os.path.join(DATA, name)) as handle:
        return handle.read()


def test_the_amd64_kernels_of_the_bookworm_lists():
    packages = kernel_packages(data("pkgnames.txt").splitlines(), "6.1.0-47-amd64")
    assert sorted(packages) == sorted(["linux-image-6.1.0-%d-amd64" % abi for abi in range(47, 58)]
                                      + ["linux-image-%s+deb12-amd64" % v for v in
                                         ("6.12.100", "6.12.101", "6.12.107", "6.12.111", "6.12.113", "6.12.115",
                                          "6.12.117", "6.12.118")])
    assert packages["linux-image-6.12.118+deb12-amd64"] == "6.12.118+deb12-amd64"
    # -dbg, -unsigned, cloud-amd64, rt-amd64 and the metapackages (linux-image-amd64, linux-image-6.12-amd64) are not
    # kernels of this flavour
    assert not any(name.endswith(("-dbg", "-unsigned")) or "cloud" in name or "-rt-" in name for name in packages)


def test_other_distributions_names():
    names = ["linux-image-5.15.0-48-generic", "linux-image-5.15.0-91-generic", "linux-image-unsigned-5.15.0-91-generic",
             "linux-image-5.15.0-91-lowlatency", "linux-image-generic", "proxmox-kernel-6.8.12-4-pve-signed",
             "proxmox-kernel-6.8.12-4-pve", "proxmox-kernel-6.8", "pve-kernel-6.2.16-20-pve",
             "linux-image-6.6.51+rpt-rpi-v8", "linux-image-6.6.62+rpt-rpi-v8", "linux-image-6.6.62+rpt-rpi-2712",
             "linux-image-rpi-v8"]
    assert sorted(kernel_packages(names, "5.15.0-48-generic")) == [
        "linux-image-5.15.0-48-generic", "linux-image-5.15.0-91-generic"]
    assert kernel_packages(names, "6.8.12-2-pve") == {
        "proxmox-kernel-6.8.12-4-pve-signed": "6.8.12-4-pve", "proxmox-kernel-6.8.12-4-pve": "6.8.12-4-pve",
        "pve-kernel-6.2.16-20-pve": "6.2.16-20-pve"}
    assert sorted(kernel_packages(names, "6.6.51+rpt-rpi-v8")) == [
        "linux-image-6.6.51+rpt-rpi-v8", "linux-image-6.6.62+rpt-rpi-v8"]
    assert (flavour("6.1.0-47-cloud-amd64"), flavour("6.12.118+deb13-amd64")) == ("cloud-amd64", "amd64")


@pytest.mark.parametrize("proc_version,signature,expected", [
    ("Linux version 6.1.0-47-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU "
     "ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)\n", None, "6.1.158-1"),
    ("Linux version 6.12.38+deb13-amd64 (debian-kernel@lists.debian.org) (x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19)"
     " 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP PREEMPT_DYNAMIC Debian 6.12.38-1 (2025-07-16)\n", None,
     "6.12.38-1"),
    ("Linux version 5.15.0-48-generic (buildd@lcy02-amd64-080) (gcc ...) #54~20.04.1-Ubuntu SMP Thu Sep 1 16:17:26 "
     "UTC 2022\n", "Ubuntu 5.15.0-48.54~20.04.1-generic 5.15.53\n", "5.15.0-48.54~20.04.1"),
    ("Linux version 6.8.12-4-pve (build@proxmox) (gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) "
     "2.40) #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z)\n", None, "6.8.12-4"),
    ("Linux version 6.5.0-1-custom (me@box) #1 SMP\n", None, None),
])
def test_the_running_builds_version(proc_version, signature, expected):
    assert build_version(proc_version, signature) == expected


def test_newer_than_the_running_build_and_the_newest_of_its_series():
    packages = kernel_packages(data("pkgnames.txt").splitlines(), "6.1.0-47-amd64")
    candidates = policy_candidates(data("policy-amd64.txt"))
    assert candidates["linux-image-6.1.0-47-amd64"] == "6.1.170-3"  # the running ABI, rebuilt since
    found = newer(candidates, packages, "6.1.0-47-amd64", "6.1.158-1")
    assert found[0] == {"package": "linux-image-6.1.0-47-amd64", "release": "6.1.0-47-amd64", "version": "6.1.170-3"}
    assert [item["version"] for item in found][-1] == "6.12.118-1~deb12u1"
    assert newest_of_series(found, "6.1.158-1", "6.1.0-47-amd64")["package"] == "linux-image-6.1.0-57-amd64"
    assert newer(candidates, packages, "6.1.0-57-amd64", "6.12.118-1~deb12u1") == []
    assert newest_of_series([], "6.1.158-1", "x") is None


def test_the_kernels_own_entries_after_the_running_version():
    entries = parse_changelog(open(CHANGELOG).read())
    assert (entries[0]["source"], entries[0]["version"]) == ("linux-signed-amd64", "6.1.170+3")
    assert entries[0]["author"] == "Salvatore Bonaccorso <carnil@debian.org>"
    after = between(entries, "6.1.158-1", "6.1.170-3")
    # the signed entry is the kernel's 6.1.170-3 upload: Debian lists that upload's changes under it
    assert [entry["version"] for entry in after] == ["6.1.170-3", "6.1.170-2", "6.1.170-1", "6.1.164-1", "6.1.162-1",
                                                     "6.1.159-1"]
    assert after[0]["source"] == "linux" and after[0]["changes"] == [
        "  * xfrm: esp: ipv4: fix up flags setting",
        "  * net: Fix icmp host relookup triggering ip_rt_bug (Closes: #1135514)"]
    assert mentions(between(entries, "6.1.170-2", "6.1.170-3"), ["xfrm"])[0]["version"] == "6.1.170-3"
    assert sum(len(entry["changes"]) for entry in after) > 1000  # every stable commit, by its subject
    found = mentions(after, ["r8169", "e1000e"])
    assert {"version": "6.1.162-1", "term": "r8169", "change": "- r8169: fix RTL8117 Wake-on-Lan in DASH mode"} in found
    assert all(item["term"] in item["change"] for item in found)
    assert "- ixgbevf: fix link setup issue" in [c.strip() for e in after for c in e["changes"]]
    assert mentions(after, ["ixgbe"]) == []  # ixgbevf is another driver
    (_signed, only) = between(entries, "6.1.170-1", "6.1.170-3")
    assert [m["change"] for m in mentions([only], ["rxrpc"])] == [
        "* rxrpc: input: Open-code skb_unshare()",
        "* rxrpc: Fix conn-level packet handling to unshare RESPONSE packets",
        "* rxrpc: Also unshare DATA/RESPONSE packets when paged frags are present"]


def test_a_term_is_a_word_or_a_prefix_before_an_underscore():
    changes = ["- ixgbevf: fix link setup issue", "- ixgbe: fix NULL in ixgbe_poll", "- net: tcp_v4_rcv: drop",
               "- igbx: y"]
    entry = [{"version": "1", "changes": changes}]
    assert [m["change"] for m in mentions(entry, ["ixgbe"])] == ["- ixgbe: fix NULL in ixgbe_poll"]
    assert [m["change"] for m in mentions(entry, ["tcp_"])] == ["- net: tcp_v4_rcv: drop"]
    assert mentions(entry, ["igb"]) == []


def test_what_a_signature_makes_one_look_for():
    assert suspects({"module": "ixgbe", "function": "ixgbe_xmit_xdp_ring"}) == ["ixgbe", "ixgbe_xmit_xdp_ring"]
    assert suspects({"module": None, "suspect_module": "speakup", "function": "mutex_lock"}) == ["speakup",
                                                                                                 "mutex_lock"]
    assert suspects({"module": None, "function": "tcp_v4_rcv"}) == ["tcp_", "tcp_v4_rcv"]
    assert suspects(None) == []


@pytest.mark.parametrize("compression", ["xz", "gzip"])
def test_the_changelog_is_read_out_of_a_real_deb(tmp_path, compression):
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text("Package: linux-image-6.1.0-99-amd64\nVersion: 6.1.199-1\n"
                                             "Architecture: amd64\nMaintainer: x <x@example.org>\nDescription: x\n")
    doc = tree / "usr" / "share" / "doc" / "linux-image-6.1.0-99-amd64"
    doc.mkdir(parents=True)
    (doc / "changelog.Debian.gz").write_bytes(gzip.compress(open(CHANGELOG, "rb").read()))
    (doc / "copyright").write_text("GPL-2\n")
    deb = tmp_path / "k.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Z" + compression, "--build", str(tree), str(deb)], check=True,
                   capture_output=True)
    assert read_deb_changelog(str(deb)) == open(CHANGELOG).read()
    (doc / "changelog.Debian.gz").unlink()
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Z" + compression, "--build", str(tree), str(deb)], check=True,
                   capture_output=True)
    assert read_deb_changelog(str(deb)) is None


class ShellRunner:
    """What read_deb_changelog asks of an AnsibleModule for a zstd archive: run_command, run for real."""

    def run_command(self, args, use_unsafe_shell=False, environ_update=None):
        res = subprocess.run(args, shell=use_unsafe_shell, capture_output=True, text=True, check=False,
                             env=dict(os.environ, **(environ_update or {})))
        return res.returncode, res.stdout, res.stderr


def test_a_zstd_data_archive_is_read_through_dpkg_deb(tmp_path):
    tree = tmp_path / "pkg"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text("Package: x\nVersion: 1\nArchitecture: all\n"
                                             "Maintainer: x <x@example.org>\nDescription: x\n")
    doc = tree / "usr" / "share" / "doc" / "x"
    doc.mkdir(parents=True)
    (doc / "changelog.gz").write_bytes(gzip.compress(open(CHANGELOG, "rb").read()))
    deb = tmp_path / "x.deb"
    res = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(tree), str(deb)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip("this dpkg-deb cannot write zstd: " + res.stderr.strip())
    with pytest.raises(ValueError, match=r"data\.tar\.zst archive: dpkg-deb is needed"):
        read_deb_changelog(str(deb))
    assert read_deb_changelog(str(deb), ShellRunner()) == open(CHANGELOG).read()
    (doc / "changelog.gz").unlink()
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(tree), str(deb)], check=True,
                   capture_output=True)
    assert read_deb_changelog(str(deb), ShellRunner()) is None


def test_not_a_deb(tmp_path):
    path = tmp_path / "x.deb"
    path.write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(ValueError, match="not a Debian package"):
        read_deb_changelog(str(path))


def test_a_signed_entry_that_names_no_kernel_is_left_out():
    entries = parse_changelog("linux-signed-amd64 (6.1.192+3) bookworm; urgency=high\n\n  * Rebuild\n\n"
                              " -- X <x@example.org>  Thu, 26 Nov 2026 18:12:56 +0100\n")
    assert between(entries, "6.1.192-2", "6.1.192-3") == []


def test_the_answer_in_words():
    """As the bookworm lab host on 6.1.0-56 (build 6.1.192-2) got it from linux-image-6.1.0-57's changelog."""
    result = {"release": "6.1.0-56-amd64", "version": "6.1.192-2", "flavour": "amd64",
              "newer": [{"package": "linux-image-6.1.0-57-amd64", "version": "6.1.192-3"}],
              "newest": {"package": "linux-image-6.1.0-57-amd64", "version": "6.1.192-3"},
              "entries": [{"version": "6.1.192-3"}], "terms": ["nfsd", "virtio_net"], "mention_count": 1,
              "mentions": [{"version": "6.1.192-3",
                            "change": "* nfsd: preflight SEQUENCE replies before accepting a slot (CVE-2026-99362)"}]}
    assert summarize(result, True) == (
        "1 newer amd64 kernel offered than 6.1.0-56-amd64 (build 6.1.192-2); the newest is linux-image-6.1.0-57-amd64 "
        "6.1.192-3. Its changelog has 1 entry after 6.1.192-2; 1 change mentions nfsd or virtio_net, the latest: "
        "* nfsd: preflight SEQUENCE replies before accepting a slot (CVE-2026-99362) (6.1.192-3).")
    assert summarize(dict(result, mention_count=0, mentions=[]), True).endswith(
        "none of their changes mention nfsd or virtio_net.")
    assert summarize(dict(result, newer=[], newest=None), True).startswith(
        "Nothing newer of the amd64 flavour than 6.1.0-56-amd64 (build 6.1.192-2) is offered")
    assert summarize(result, False).endswith("the newest is linux-image-6.1.0-57-amd64 6.1.192-3.")
