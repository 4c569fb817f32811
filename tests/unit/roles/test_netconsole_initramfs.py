"""Which initramfs images roles/netconsole rebuilds (vars/main.yml __netconsole_initramfs_stale), run for real by
/bin/sh on a temp tree shaped like /boot, /lib/modules and /etc/initramfs-tools/modules."""

import os
import subprocess
from pathlib import Path

import yaml

VARS = Path(__file__).resolve().parents[3] / "roles/netconsole/vars/main.yml"


def stale(root: Path) -> list[str]:
    values = yaml.safe_load(VARS.read_text())
    snippet = (values["__netconsole_initramfs_stale"]
               .replace("{{ __netconsole_initramfs_hook }}", str(root / "etc/initramfs-tools/modules"))
               .replace("/boot/", f"{root}/boot/").replace("/lib/modules/", f"{root}/lib/modules/"))
    assert "{{" not in snippet
    res = subprocess.run(["sh", "-c", snippet], capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def tree(tmp_path: Path, images: dict[str, int], hook_at: int | None, modules=("6.1.0-47-amd64", "6.1.0-56-amd64")):
    """/boot/initrd.img-<release> with the given mtimes (seconds), the module list at ``hook_at`` (None: absent)."""
    (tmp_path / "boot").mkdir(parents=True)
    for release in modules:
        (tmp_path / "lib/modules" / release).mkdir(parents=True)
    for release, mtime in images.items():
        image = tmp_path / "boot" / f"initrd.img-{release}"
        image.write_bytes(b"\x1f\x8b")
        os.utime(image, (mtime, mtime))
    if hook_at is not None:
        hook = tmp_path / "etc/initramfs-tools/modules"
        hook.parent.mkdir(parents=True)
        hook.write_text("virtio_net\nnetconsole\n")
        os.utime(hook, (hook_at, hook_at))
    return tmp_path


def test_only_the_images_older_than_the_module_list(tmp_path):
    # the newest image was rebuilt after the list changed (kdump-tools' install triggers update-initramfs)
    root = tree(tmp_path, {"6.1.0-47-amd64": 1000, "6.1.0-56-amd64": 3000}, hook_at=2000)
    assert stale(root) == ["6.1.0-47-amd64"]


def test_an_image_as_old_as_the_list_is_rebuilt(tmp_path):
    root = tree(tmp_path, {"6.1.0-47-amd64": 2000, "6.1.0-56-amd64": 2000}, hook_at=2000)
    assert stale(root) == ["6.1.0-47-amd64", "6.1.0-56-amd64"]


def test_nothing_when_every_image_is_newer(tmp_path):
    root = tree(tmp_path, {"6.1.0-47-amd64": 3000, "6.1.0-56-amd64": 3001}, hook_at=2000)
    assert stale(root) == []


def test_an_image_left_by_a_removed_kernel_is_not_rebuilt(tmp_path):
    root = tree(tmp_path, {"5.10.0-30-amd64": 1000, "6.1.0-56-amd64": 1000}, hook_at=2000)
    assert stale(root) == ["6.1.0-56-amd64"]  # no /lib/modules/5.10.0-30-amd64: update-initramfs would fail


def test_nothing_without_a_module_list_or_without_images(tmp_path):
    assert stale(tree(tmp_path / "a", {"6.1.0-56-amd64": 1000}, hook_at=None)) == []
    assert stale(tree(tmp_path / "b", {}, hook_at=2000)) == []
