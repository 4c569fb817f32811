"""Kernel releases, grub.cfg menus, the GRUB environment block and dpkg status, on real text."""

from pathlib import Path

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._kernel import (
    ENVBLK_SIZE,
    TRIAL_ID,
    apt_candidate,
    choose_previous,
    compare_releases,
    dpkg_status,
    grubenv_comments,
    package_name,
    parse_bls,
    parse_grub_cfg,
    parse_grubenv,
    release_entry,
    release_machine,
    release_problem,
    render_grubenv,
    render_trial_script,
    resolve_default,
    sort_releases,
    split_release,
    trial_entry_lines,
    valid_release,
)

DATA = Path(__file__).resolve().parents[1] / "modules" / "data"
UUID = "ed16d4f6-a1cc-4789-a56f-9052049e6d14"


@pytest.fixture(scope="module")
def bookworm():
    """The grub.cfg update-grub wrote in the lab's Debian 12 image (two kernels, Advanced options submenu)."""
    return parse_grub_cfg((DATA / "bookworm-grub.cfg").read_text())


# ------------------------------------------------------------------------------------------------ releases

@pytest.mark.parametrize("release", [
    "6.1.0-47-amd64", "6.12.118+deb13-amd64", "6.8.0-45-generic", "5.14.0-427.13.1.el9_4.x86_64",
    "6.1.0-56-cloud-amd64", "6.1.0-9999-amd64", "4.19.0-27-686-pae",
])
def test_releases_uname_prints_are_valid(release):
    assert valid_release(release)


@pytest.mark.parametrize("text", ["banana", "", "6", "6.1.0-47-amd64 quiet", "../../etc/passwd", "6.1/../x",
                                  "6.1.0-47-amd64;reboot", None, "6." + "1" * 120])
def test_everything_else_is_not_a_release(text):
    assert not valid_release(text)


@pytest.mark.parametrize("release, want", [
    ("6.1.0-47-amd64", ("6.1.0-47", "amd64")),
    ("6.1.0-47-cloud-amd64", ("6.1.0-47", "cloud-amd64")),
    ("6.12.118+deb13-amd64", ("6.12.118+deb13", "amd64")),
    ("6.8.0-45-generic", ("6.8.0-45", "generic")),
    ("5.14.0-427.el9.x86_64", ("5.14.0-427.el9.x86_64", "")),
])
def test_split_release(release, want):
    assert split_release(release) == want


@pytest.mark.parametrize("release, machine", [
    ("6.1.0-47-amd64", "x86_64"), ("6.1.0-47-cloud-amd64", "x86_64"), ("6.1.0-47-rt-amd64", "x86_64"),
    ("6.1.0-47-arm64", "aarch64"), ("6.12.1-arm64-16k", "aarch64"), ("6.1.0-47-686-pae", "i686"),
    ("6.1.0-47-armmp-lpae", "armv7l"), ("6.1.0-47-powerpc64le", "ppc64le"), ("5.14.0-427.el9.aarch64", "aarch64"),
    ("5.14.0-427.el9.x86_64", "x86_64"), ("6.8.0-45-generic", None),
    # Raspberry Pi OS, old and new naming; Proxmox VE's -pve says no architecture
    ("6.6.51+rpt-rpi-v8", "aarch64"), ("6.6.51+rpt-rpi-2712", "aarch64"), ("6.6.51+rpt-rpi-v7l", "armv7l"),
    ("6.6.51+rpt-rpi-v7", "armv7l"), ("6.1.0-rpi7-rpi-v8", "aarch64"), ("6.1.0-rpi7-rpi-v6", "armv6l"),
    ("6.8.12-4-pve", None),
])
def test_the_machine_a_release_is_built_for(release, machine):
    assert release_machine(release) == machine


def test_release_for_another_architecture_is_refused():
    assert release_problem("6.1.0-47-amd64", "x86_64") is None
    assert release_problem("6.8.0-45-generic", "aarch64") is None  # the name does not say: the install decides
    assert release_problem("6.1.0-47-arm64", "x86_64") == "is built for aarch64, but this host is x86_64"
    assert release_problem("5.14.0-427.el9.x86_64", "aarch64") == "is built for x86_64, but this host is aarch64"
    assert "uname -r" in release_problem("latest", "x86_64")


@pytest.mark.parametrize("older, newer", [
    ("6.1.0-47-amd64", "6.1.0-56-amd64"), ("6.1.0-9-amd64", "6.1.0-10-amd64"),
    ("6.12.107+deb13-amd64", "6.12.118+deb13-amd64"), ("6.1.0-56-amd64", "6.12.1+deb13-amd64"),
    ("6.1~rc5", "6.1"), ("5.14.0-427.el9.x86_64", "5.14.0-427.13.1.el9_4.x86_64"),
])
def test_releases_order_like_dpkg(older, newer):
    assert compare_releases(older, newer) < 0
    assert compare_releases(newer, older) > 0
    assert compare_releases(newer, newer) == 0


def test_previous_is_the_newest_older_kernel_of_the_same_flavour():
    installed = ["6.1.0-47-amd64", "6.1.0-56-amd64", "6.1.0-9-amd64", "6.1.0-52-cloud-amd64", "6.1.0-60-amd64"]
    assert sort_releases(installed)[0] == "6.1.0-9-amd64"
    assert choose_previous("6.1.0-56-amd64", installed) == "6.1.0-47-amd64"
    assert choose_previous("6.1.0-9-amd64", installed) is None
    assert choose_previous("6.12.118+deb13-amd64", ["6.12.107+deb13-amd64", "6.12.118+deb13-amd64"]) \
        == "6.12.107+deb13-amd64"
    assert choose_previous("6.1.0-56-amd64", ["6.1.0-56-amd64"]) is None


def test_package_names():
    assert package_name("6.1.0-47-amd64", "debian") == "linux-image-6.1.0-47-amd64"
    assert package_name("5.14.0-427.el9.x86_64", "redhat") == "kernel-core-5.14.0-427.el9.x86_64"


# ------------------------------------------------------------------------------------------------ grub.cfg

def test_menu_of_the_lab_image(bookworm):
    assert [(e["release"], e["recovery"], e["submenu"] is not None) for e in bookworm] == [
        ("6.1.0-56-amd64", False, False), ("6.1.0-56-amd64", False, True), ("6.1.0-56-amd64", True, True),
        ("6.1.0-47-amd64", False, True), ("6.1.0-47-amd64", True, True)]
    first = bookworm[0]
    assert first["id"] == f"gnulinux-simple-{UUID}" and first["path"] == first["id"] and first["top_index"] == 0
    assert first["kernel"] == "/boot/vmlinuz-6.1.0-56-amd64"
    assert first["args"] == f"root=UUID={UUID} ro console=ttyS0,115200 net.ifnames=0"
    assert first["initrd"] == ["/boot/initrd.img-6.1.0-56-amd64"]
    assert bookworm[3]["path"] == f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-47-amd64-advanced-{UUID}"
    assert bookworm[3]["title"] == "Debian GNU/Linux, with Linux 6.1.0-47-amd64"


def test_a_release_is_pinned_through_its_own_entry_not_the_floating_first(bookworm):
    assert release_entry(bookworm, "6.1.0-56-amd64")["path"] == \
        f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-56-amd64-advanced-{UUID}"
    assert release_entry(bookworm, "6.1.0-47-amd64")["id"] == f"gnulinux-6.1.0-47-amd64-advanced-{UUID}"
    assert release_entry(bookworm, "6.1.0-9999-amd64") is None


def test_defaults_resolve_like_grub(bookworm):
    assert resolve_default(bookworm, "0")["release"] == "6.1.0-56-amd64"
    assert resolve_default(bookworm, "")["id"] == f"gnulinux-simple-{UUID}"
    assert resolve_default(bookworm, f"gnulinux-advanced-{UUID}>gnulinux-6.1.0-47-amd64-advanced-{UUID}")[
        "release"] == "6.1.0-47-amd64"
    assert resolve_default(bookworm, "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux "
                                     "6.1.0-47-amd64")["release"] == "6.1.0-47-amd64"
    assert resolve_default(bookworm, "7") is None
    assert resolve_default(bookworm, "no-such-entry") is None


def test_titles_with_quotes_and_ids_without_option():
    cfg = ("menuentry 'Bob'\\''s kernel' --class os --id bob {\n\tlinux /vmlinuz-6.1.0-1-amd64 ro\n}\n"
           "menuentry \"plain\" {\n\tlinux16 /boot/vmlinuz-6.1.0-2-amd64 ro single\n}\n")
    first, second = parse_grub_cfg(cfg)
    assert (first["title"], first["id"], first["release"]) == ("Bob's kernel", "bob", "6.1.0-1-amd64")
    assert (second["title"], second["id"], second["path"], second["recovery"]) == ("plain", None, "plain", True)


def test_trial_entry_is_the_kernels_entry_with_panic_and_its_own_id(bookworm, tmp_path):
    entry = release_entry(bookworm, "6.1.0-47-amd64")
    args = entry["args"] + " panic=10 init=/bin/false"
    lines = trial_entry_lines(entry, args)
    assert lines[0].startswith("menuentry 'lastwords trial: Debian GNU/Linux, with Linux 6.1.0-47-amd64' --class")
    assert lines[0].endswith(f"$menuentry_id_option '{TRIAL_ID}' {{")
    assert lines[-1] == "}" and all(not line.startswith("\t\t") for line in lines)  # back at the top level
    assert "\tlinux\t/boot/vmlinuz-6.1.0-47-amd64 root=UUID=" in "\n".join(lines)
    script = render_trial_script(entry, args, "6.1.0-47-amd64", "panic=10")
    assert script.startswith("#!/bin/sh\n")
    # the script emits exactly an entry that parses back with the trial id, boots the release, keeps $ for GRUB
    path = tmp_path / "42_lastwords_trial"
    path.write_text(script)
    import subprocess
    out = subprocess.run(["sh", str(path)], capture_output=True, text=True, check=True).stdout
    (trial,) = parse_grub_cfg(out)
    assert (trial["id"], trial["release"], trial["path"]) == (TRIAL_ID, "6.1.0-47-amd64", TRIAL_ID)
    assert trial["args"].endswith("net.ifnames=0 panic=10 init=/bin/false")
    assert "$menuentry_id_option" in out and "search --no-floppy --fs-uuid --set=root " + UUID in out
    # a trial entry is never taken as the kernel's own entry
    assert release_entry(bookworm + [trial], "6.1.0-47-amd64")["id"] != TRIAL_ID


def test_savedefault_is_left_out_of_the_trial():
    cfg = "menuentry 'k' $menuentry_id_option 'k-id' {\n\tsavedefault\n\tlinux /boot/vmlinuz-6.1.0-1-amd64 ro\n}\n"
    (entry,) = parse_grub_cfg(cfg)
    assert not any("savedefault" in line for line in trial_entry_lines(entry, "ro panic=5"))


# ------------------------------------------------------------------------------------------------ grubenv

def test_grubenv_round_trip_keeps_the_block_size():
    text = "# GRUB Environment Block\n# WARNING: Do not edit this file by tools other than grub-editenv!!!\n"
    text += "#" * (ENVBLK_SIZE - len(text))
    assert parse_grubenv(text) == {}
    data = render_grubenv({"saved_entry": "a>b", "next_entry": "lastwords-trial"}, comments=grubenv_comments(text))
    assert len(data) == ENVBLK_SIZE
    assert data.startswith(b"# GRUB Environment Block\n# WARNING:")
    assert parse_grubenv(data.decode()) == {"saved_entry": "a>b", "next_entry": "lastwords-trial"}
    # GRUB clears next_entry at boot by writing it empty
    assert parse_grubenv("# GRUB Environment Block\nnext_entry=\n###") == {"next_entry": ""}


def test_grubenv_refuses_what_does_not_fit():
    with pytest.raises(ValueError):
        render_grubenv({"saved_entry": "x" * 2000})
    with pytest.raises(ValueError):
        render_grubenv({"bad name": "x"})


# ------------------------------------------------------------------------------------------------ packages

DPKG = """\
Package: linux-image-6.1.0-47-amd64
Status: hold ok installed
Version: 6.1.153-1

Package: linux-image-6.1.0-56-amd64
Status: install ok installed
Description: Linux 6.1 for 64-bit PCs (signed)
 Package: not-a-field

Package: linux-image-6.1.0-40-amd64
Status: deinstall ok config-files
Version: 6.1.140-1
"""


def test_dpkg_status_says_installed_and_held():
    status = dpkg_status(DPKG, ["linux-image-6.1.0-47-amd64", "linux-image-6.1.0-56-amd64",
                                "linux-image-6.1.0-40-amd64", "linux-image-6.1.0-9999-amd64"])
    assert status["linux-image-6.1.0-47-amd64"] == {"installed": True, "held": True, "version": "6.1.153-1"}
    assert status["linux-image-6.1.0-56-amd64"]["installed"] and not status["linux-image-6.1.0-56-amd64"]["held"]
    assert not status["linux-image-6.1.0-40-amd64"]["installed"]
    assert status["linux-image-6.1.0-9999-amd64"] == {"installed": False, "held": False, "version": None}


def test_apt_candidate():
    assert apt_candidate("linux-image-6.1.0-47-amd64:\n  Installed: (none)\n  Candidate: 6.1.153-1\n") == "6.1.153-1"
    assert apt_candidate("linux-image-x:\n  Installed: (none)\n  Candidate: (none)\n") is None
    assert apt_candidate("N: Unable to locate package linux-image-6.1.0-9999-amd64\n") is None


def test_bls_entry():
    values = parse_bls("title Red Hat (5.14.0-427.el9.x86_64)\nversion 5.14.0-427.el9.x86_64\n"
                       "linux /vmlinuz-5.14.0-427.el9.x86_64\noptions root=/dev/vda1 ro\n# comment\n")
    assert values["version"] == "5.14.0-427.el9.x86_64" and values["options"] == "root=/dev/vda1 ro"
