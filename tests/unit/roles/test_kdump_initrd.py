"""When roles/kdump builds a kdump initrd ahead of its boot (vars/Debian.yml __kdump_initrd_build), run for real by
/bin/sh on a temp tree shaped like /var/lib/kdump, with a stand-in for kdump-tools' kernel hook that writes the
image as the real one does (mkinitramfs -o /var/lib/kdump/initrd.img-<release>).

The rule under test is kdump-config's own (1.8.1 and 1.10.7, check_sysctl_change): load deletes and builds again
an initrd whose copy of /etc/kdump/sysctl.conf (latest_sysctls-<release>) is missing or differs. The first lab
run that built only the image saw kdump-tools delete it and build it again in the next boot.
"""

import subprocess
from pathlib import Path

import yaml

VARS = Path(__file__).resolve().parents[3] / "roles/kdump/vars/Debian.yml"
RELEASE = "6.1.0-47-amd64"
SYSCTLS = "kernel.panic_on_oops=1\nvm.max_map_count=65530\n"


def tree(tmp_path: Path, image: bool, stamp: str | None, sysctl: str | None = SYSCTLS) -> Path:
    kdump = tmp_path / "var/lib/kdump"
    kdump.mkdir(parents=True)
    hook = tmp_path / "hook"
    hook.write_text('#!/bin/sh\necho "kdump-tools: Generating $0 $1"\necho "$1" >> "${0%/*}/hook.calls"\n'
                    f'echo image > {kdump}/initrd.img-"$1"\n')
    hook.chmod(0o755)
    if image:
        (kdump / f"initrd.img-{RELEASE}").write_text("old image\n")
    if stamp is not None:
        (kdump / f"latest_sysctls-{RELEASE}").write_text(stamp)
    if sysctl is not None:
        (tmp_path / "sysctl.conf").write_text(sysctl)
    return tmp_path


def build(root: Path, mode: str = "run") -> subprocess.CompletedProcess:
    script = yaml.safe_load(VARS.read_text())["__kdump_initrd_build"]
    return subprocess.run(["sh", "-c", script, "sh", RELEASE, str(root / "var/lib/kdump"), str(root / "hook"),
                           str(root / "sysctl.conf"), mode], capture_output=True, text=True, timeout=30, check=False)


def calls(root: Path) -> list[str]:
    path = root / "hook.calls"
    return path.read_text().split() if path.exists() else []


def test_a_missing_image_is_built_and_the_sysctls_copied(tmp_path):
    root = tree(tmp_path, image=False, stamp=None)
    res = build(root)
    assert res.returncode == 0 and res.stdout.split("\n")[-2:] == ["built", ""], res
    assert calls(root) == [RELEASE]
    assert (root / f"var/lib/kdump/initrd.img-{RELEASE}").read_text() == "image\n"
    assert (root / f"var/lib/kdump/latest_sysctls-{RELEASE}").read_text() == SYSCTLS  # load keeps it then
    assert build(root).stdout.strip() == "unchanged" and calls(root) == [RELEASE]  # the second run: nothing


def test_an_image_without_the_copy_is_built_again_as_load_would(tmp_path):
    # what the package's hook leaves for a kernel installed after kdump-tools: the image, no copy
    root = tree(tmp_path, image=True, stamp=None)
    assert build(root).stdout.strip().endswith("built")
    assert calls(root) == [RELEASE]
    assert (root / f"var/lib/kdump/initrd.img-{RELEASE}").read_text() == "image\n"


def test_changed_sysctls_rebuild_and_matching_ones_do_not(tmp_path):
    root = tree(tmp_path, image=True, stamp="kernel.panic_on_oops=0\n")
    assert build(root).stdout.strip().endswith("built") and calls(root) == [RELEASE]
    root2 = tree(tmp_path / "same", image=True, stamp=SYSCTLS)
    assert build(root2).stdout.strip() == "unchanged" and calls(root2) == []


def test_no_sysctl_file_only_a_missing_image_is_built(tmp_path):
    # a kdump-tools without sysctl.conf (older releases) never deletes the image over it
    root = tree(tmp_path, image=True, stamp=None, sysctl=None)
    assert build(root).stdout.strip() == "unchanged" and calls(root) == []
    assert not (root / f"var/lib/kdump/latest_sysctls-{RELEASE}").exists()


def test_check_mode_says_would_build_and_writes_nothing(tmp_path):
    root = tree(tmp_path, image=False, stamp=None)
    res = build(root, "check")
    assert res.returncode == 0 and res.stdout.strip() == "would build", res
    assert calls(root) == [] and sorted(p.name for p in (root / "var/lib/kdump").iterdir()) == []


def test_a_hook_that_makes_no_image_fails_and_leaves_no_copy(tmp_path):
    root = tree(tmp_path, image=False, stamp=None)
    (root / "hook").write_text("#!/bin/sh\nexit 0\n")  # e.g. exits early: the release is not installed
    res = build(root)
    assert res.returncode != 0 and f"made no {root}/var/lib/kdump/initrd.img-{RELEASE}" in res.stderr, res
    assert not (root / f"var/lib/kdump/latest_sysctls-{RELEASE}").exists()
