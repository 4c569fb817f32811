"""Cached Debian images that boot through their own boot loader from their own disk.

Two platforms: BIOS with GRUB (``bookworm``, ``trixie``), and UEFI with systemd-boot (``trixie-sdboot``: OVMF
from Debian's ``ovmf`` package, an EFI system partition, predictable interface names and the lab address on a
bridge, ``vmbr0``, as a Proxmox VE host has it).

Recipe -> image, in four steps, each timed:

1. ``mmdebstrap`` builds the root tree (systemd, sshd, python3, grub-pc, two kernels of the release) and, in a
   customize hook, writes the lab's files and downloads (without installing) the packages the roles install,
   so converging a lab VM needs no mirror and stays fast and deterministic.
2. ``sfdisk`` + ``mkfs.ext4 -E offset=1MiB -d tree`` make a partitioned raw disk without loop devices (this
   kind of machine gives ``losetup -P`` no partition nodes).
3. A first boot (direct kernel boot) runs ``grub-install /dev/vda && update-grub`` inside the guest (UEFI:
   ``bootctl install``, then kernel-install writes each kernel's entry on the ESP), rebuilds the initramfs
   images with ``MODULES=dep`` for the virtual hardware (later rebuilds are then several times faster under
   TCG), and powers off: from then on the disk boots through its boot loader alone, so the roles' edits of it
   are real. A UEFI image keeps the firmware's variable store of that boot (``<image>.vars.fd``, with the boot
   entry ``bootctl install`` made); each VM starts from a copy of it and keeps its own, as a machine keeps its
   NVRAM (systemd-boot's one-shot and default entries live there).
4. ``qemu-img convert`` to qcow2, moved into the cache under ``<name>-<hash>.qcow2``.

The cache key hashes the recipe, this file's source and the lab's public SSH key: a changed recipe rebuilds, an
unchanged one costs nothing. A lock file serialises concurrent builds of the same image.
"""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import paths, qemu
from .progress import say, step

MIRROR = os.environ.get("LWLAB_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("LWLAB_SECURITY_MIRROR", "http://deb.debian.org/debian-security")

# Installed in every image. Kernels are pinned by recipe so the cache key says exactly what is inside.
BASE_PACKAGES = [
    "systemd-sysv", "udev", "dbus", "kmod", "procps", "iproute2", "iputils-ping", "netbase",
    "openssh-server", "python3", "python3-apt", "grub-pc", "initramfs-tools", "file", "less",
]
# Downloaded into /var/cache/apt/archives, not installed: what the roles install (kdump, receiver, soak).
CACHED_PACKAGES = ["kdump-tools", "makedumpfile", "kexec-tools", "rsyslog", "logrotate", "iperf3"]

TRIXIE = {
    "suite": "trixie",
    "sources": [
        f"deb {MIRROR} trixie main",
        f"deb {MIRROR} trixie-updates main",
        f"deb {SECURITY_MIRROR} trixie-security main",
    ],
    "kernels": ["6.12.118+deb13-amd64", "6.12.107+deb13-amd64"],
}
RECIPES = {
    "bookworm": {
        "suite": "bookworm",
        "sources": [
            f"deb {MIRROR} bookworm main",
            f"deb {MIRROR} bookworm-updates main",
            f"deb {SECURITY_MIRROR} bookworm-security main",
        ],
        # newest 6.1 of the release, and an older one for rollback
        "kernels": ["6.1.0-56-amd64", "6.1.0-47-amd64"],
    },
    "trixie": TRIXIE,
    # Debian 13 on UEFI booted by systemd-boot, NIC names as udev gives them (enp0s3, enp0s4), the lab address
    # on a bridge
    "trixie-sdboot": dict(TRIXIE, firmware="uefi", bridge="vmbr0"),
}
ALIASES = {"debian12": "bookworm", "debian13": "trixie", "12": "bookworm", "13": "trixie"}
# the boot loader package each firmware gets (grub-pc is in BASE_PACKAGES for BIOS)
UEFI_PACKAGES = ["systemd-boot"]
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")

DISK_SIZE = 8 * 1024**3
PART_OFFSET = 1024 * 1024
ESP_SIZE = 512 * 1024**2  # two kernels with their initrds, and room for the ones tests install
FIRSTBOOT_OK = "LASTWORDS-FIRSTBOOT-OK"
FIRSTBOOT_FAILED = "LASTWORDS-FIRSTBOOT-FAILED"

GRUB_DEFAULTS = """\
# Written by the lastwords lab image recipe (what a headless homelab box typically has).
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200 net.ifnames=0"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
"""

# Runs once, on the image's first (direct kernel) boot: make the disk boot through its boot loader (the install
# step of its platform), then power off.
_FIRSTBOOT = """\
#!/bin/sh
trap 'echo {failed} > /dev/ttyS0; sync; systemctl poweroff --force' EXIT
set -eu
{install}
# Initramfs images with only the modules this (virtual) machine needs: every rebuild the roles cause (netconsole
# in the initramfs, a kernel install) then takes a minute instead of several under TCG. Done here, not in the
# chroot, because MODULES=dep looks at the hardware it runs on.
sed -i 's/^MODULES=.*/MODULES=dep/' /etc/initramfs-tools/initramfs.conf
update-initramfs -u -k all
{after}
systemctl disable lastwords-firstboot.service
rm -f /usr/local/sbin/lastwords-firstboot
trap - EXIT
echo {ok} > /dev/ttyS0
sync
systemctl poweroff
"""
FIRSTBOOT_DIR = Path(__file__).with_name("firstboot")


def firstboot_script(name: str) -> str:
    """The first-boot script of an image: the shared frame above with its platform's steps (firstboot/*.sh).

    The steps are files of their own, and only the image's own steps enter its cache key: changing systemd-boot's
    steps rebuilds the UEFI image alone.
    """
    if uefi(name):
        install, after = (FIRSTBOOT_DIR / "sdboot.sh").read_text(), (FIRSTBOOT_DIR / "sdboot-after.sh").read_text()
    else:
        install, after = (FIRSTBOOT_DIR / "grub.sh").read_text(), ""
    return _FIRSTBOOT.format(failed=FIRSTBOOT_FAILED, ok=FIRSTBOOT_OK, install=install.rstrip("\n"),
                             after=after.rstrip("\n"))


FIRSTBOOT_UNIT = """\
[Unit]
Description=lastwords lab: install the boot loader on the image's own disk, then power off
After=local-fs.target
ConditionPathExists=/usr/local/sbin/lastwords-firstboot

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lastwords-firstboot
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
"""

USER_NETWORK = """\
# NIC 1: QEMU user network (SSH from the controller, Debian mirror)
[Match]
MACAddress={mac}

[Network]
DHCP=ipv4
"""


def resolve(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in RECIPES:
        raise SystemExit(f"lwlab: unknown image {name!r}; known: {', '.join(sorted(RECIPES))}")
    return name


def ssh_key() -> Path:
    """The lab's SSH key (ed25519, no passphrase), created once in the cache."""
    key = paths.cache_dir() / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lastwords-lab", "-f", str(key)],
                       check=True)
    return key


def uefi(name: str) -> bool:
    return RECIPES[resolve(name)].get("firmware") == "uefi"


def bridge(name: str) -> str | None:
    """The bridge a VM of this image has its lab address on, or None (on the NIC itself)."""
    return RECIPES[resolve(name)].get("bridge")


def packages(name: str) -> list[str]:
    if uefi(name):
        return [p for p in BASE_PACKAGES if p != "grub-pc"] + UEFI_PACKAGES
    return list(BASE_PACKAGES)


def recipe_hash(name: str) -> str:
    recipe = RECIPES[resolve(name)]
    h = hashlib.sha256()
    h.update(json.dumps({"recipe": recipe, "base": packages(name), "cached": CACHED_PACKAGES,
                         "disk": DISK_SIZE}, sort_keys=True).encode())
    h.update(Path(__file__).read_bytes())
    h.update(firstboot_script(name).encode())
    h.update(ssh_key().with_suffix(".pub").read_bytes())
    return h.hexdigest()[:16]


def image_path(name: str) -> Path:
    name = resolve(name)
    return paths.cache_dir() / "images" / f"{name}-{recipe_hash(name)}.qcow2"


def vars_path(name: str) -> Path:
    """A UEFI image's firmware variable store, as its first boot left it."""
    return image_path(name).with_suffix(".vars.fd")


def ensure(name: str) -> Path:
    """Return the cached image for ``name``, building it first if the recipe changed or it is missing."""
    name = resolve(name)
    out = image_path(name)
    if out.exists():
        say(f"image {name}: cached at {out}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():  # another process built it while we waited
            return out
        with step(f"image {name}: build (recipe {out.stem})"):
            _build(name, out)
    for old in out.parent.glob(f"{name}-*"):
        if old.name.split(".")[0] != out.stem and old.suffix in (".qcow2", ".fd"):
            say(f"image {name}: removing stale {old.name}")
            old.unlink()
    return out


def _stage_files(stage: Path, user_mac: str, script: str, uefi_image: bool = False) -> None:
    def put(rel: str, text: str, mode: int = 0o644) -> None:
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    if uefi_image:
        put("etc/fstab", "/dev/vda2 / ext4 errors=remount-ro 0 1\n/dev/vda1 /boot/efi vfat umask=0077 0 2\n")
        # what kernel-install gives every kernel's entry; no net.ifnames=0: udev's predictable names
        put("etc/kernel/cmdline", "root=/dev/vda2 rw console=ttyS0,115200\n")
        (stage / "boot" / "efi").mkdir(parents=True, exist_ok=True)
    else:
        put("etc/fstab", "/dev/vda1 / ext4 errors=remount-ro 0 1\n")
    put("etc/hostname", "lastwords-lab\n")
    put("etc/hosts", "127.0.0.1 localhost\n127.0.1.1 lastwords-lab\n::1 localhost ip6-localhost ip6-loopback\n")
    put("etc/resolv.conf", "nameserver 10.0.2.3\n")
    put("etc/systemd/network/10-user.network", USER_NETWORK.format(mac=user_mac))
    put("etc/ssh/sshd_config.d/lastwords-lab.conf", "PermitRootLogin prohibit-password\nUseDNS no\n")
    put("root/.ssh/authorized_keys", ssh_key().with_suffix(".pub").read_text(), 0o600)
    (stage / "root" / ".ssh").chmod(0o700)
    (stage / "root").chmod(0o700)
    if not uefi_image:
        put("etc/default/grub", GRUB_DEFAULTS)
    put("usr/local/sbin/lastwords-firstboot", script, 0o755)
    put("etc/systemd/system/lastwords-firstboot.service", FIRSTBOOT_UNIT)


def _build(name: str, out: Path) -> None:
    recipe = RECIPES[name]
    kernels = recipe["kernels"]
    with tempfile.TemporaryDirectory(prefix=f"lwlab-{name}-", dir=paths.cache_dir()) as tmp:
        work = Path(tmp)
        tree, stage = work / "tree", work / "stage"
        is_uefi = uefi(name)
        _stage_files(stage, qemu.USER_MAC, firstboot_script(name), is_uefi)
        include = packages(name) + [f"linux-image-{k}" for k in kernels]
        hooks = [
            f'sync-in {stage} /',
            'chroot "$1" systemctl enable systemd-networkd.service lastwords-firstboot.service',
            'chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service',
            'chroot "$1" apt-get clean',
            'chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -q -y --download-only '
            + " ".join(CACHED_PACKAGES),
        ]
        cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=directory",
               f"--include={','.join(include)}",
               "--skip=cleanup/apt/lists", "--skip=cleanup/apt/cache",
               "--aptopt=Acquire::Check-Valid-Until \"false\"",
               "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
               "--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-include=/usr/share/doc/*/copyright",
               ]
        for hook in hooks:
            cmd.append(f"--customize-hook={hook}")
        cmd += [recipe["suite"], str(tree)] + recipe["sources"]
        with step(f"image {name}: mmdebstrap {recipe['suite']} with kernels {', '.join(kernels)}"):
            _run_logged(cmd, work / "mmdebstrap.log")
        vmlinuz, initrd = work / "vmlinuz", work / "initrd.img"
        shutil.copy(tree / "boot" / f"vmlinuz-{kernels[0]}", vmlinuz)
        shutil.copy(tree / "boot" / f"initrd.img-{kernels[0]}", initrd)

        raw = work / "disk.raw"
        with step(f"image {name}: partition and mkfs.ext4 -d ({DISK_SIZE // 1024**3} GiB sparse)"):
            with open(raw, "wb") as f:
                f.truncate(DISK_SIZE)
            root_offset = PART_OFFSET
            if is_uefi:
                # GPT: the ESP (FAT32, formatted here at its offset) and the root file system
                root_offset = PART_OFFSET + ESP_SIZE
                table = ("label: gpt\n"
                         f"start={PART_OFFSET // 512}, size={ESP_SIZE // 512}, "
                         "type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\n"
                         f"start={root_offset // 512}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n")
                subprocess.run(["sfdisk", "-q", str(raw)], input=table, text=True, check=True)
                # the root partition ends before the backup GPT at the end of the disk: size the file system by it
                parts = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], capture_output=True, text=True,
                                                  check=True).stdout)["partitiontable"]["partitions"]
                root_size = parts[1]["size"] * 512
                subprocess.run(["mkfs.fat", "-F", "32", "-n", "ESP", f"--offset={PART_OFFSET // 512}", str(raw),
                                str(ESP_SIZE // 1024)], check=True, stdout=subprocess.DEVNULL)
            else:
                subprocess.run(["sfdisk", "-q", str(raw)], input=f"start={PART_OFFSET // 512}, type=83, bootable\n",
                               text=True, check=True)
                root_size = DISK_SIZE - root_offset
            blocks = root_size // 4096
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "root", "-b", "4096", "-E", f"offset={root_offset}",
                            "-d", str(tree), str(raw), str(blocks)], check=True)
            shutil.rmtree(tree)

        serial = work / "firstboot.log"
        loader = "systemd-boot on its ESP" if is_uefi else "GRUB on its own disk"
        nvram = work / "vars.fd"
        with step(f"image {name}: first boot installs {loader}"):
            argv = qemu.base_argv(memory=1024) + [
                "-no-reboot", "-nic", "none",
                "-drive", f"file={raw},format=raw,if=virtio,cache=unsafe",
                "-kernel", str(vmlinuz), "-initrd", str(initrd),
                "-append", ("root=/dev/vda2 rw console=ttyS0,115200" if is_uefi
                            else "root=/dev/vda1 rw console=ttyS0,115200 net.ifnames=0"),
                "-serial", f"file:{serial}",
            ]
            if is_uefi:
                shutil.copy(OVMF_VARS, nvram)
                argv += qemu.uefi_argv(OVMF_CODE, nvram)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            try:
                _out, err = proc.communicate(timeout=900)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise SystemExit(f"lwlab: first boot of {name} did not finish in 900 s; serial log tail:\n"
                                 + qemu.tail(serial)) from None
            log = serial.read_text(errors="replace") if serial.exists() else ""
            if FIRSTBOOT_OK not in log:
                saved = paths.cache_dir() / f"firstboot-{name}-failed.log"
                if serial.exists():
                    shutil.copy(serial, saved)
                raise SystemExit(f"lwlab: first boot of {name} failed (qemu exit {proc.returncode}, "
                                 f"{err.decode(errors='replace').strip()}); serial log kept at {saved}; tail:\n"
                                 + qemu.tail(serial))
        with step(f"image {name}: convert to qcow2"):
            tmp_out = out.with_suffix(f".tmp{os.getpid()}")
            subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(tmp_out)], check=True)
            if is_uefi:
                shutil.copy(nvram, out.with_suffix(".vars.fd"))
            os.replace(tmp_out, out)
    say(f"image {name}: {out} ({out.stat().st_size / 1024**2:.0f} MiB)")


def _run_logged(cmd: list[str], log: Path) -> None:
    """Run a long command with its output in ``log``; on failure raise with the log's tail."""
    start = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False).returncode
    if rc != 0:
        saved = paths.cache_dir() / log.name
        shutil.copy(log, saved)
        raise SystemExit(f"lwlab: {cmd[0]} failed (exit {rc}) after {time.monotonic() - start:.0f}s; "
                         f"log kept at {saved}; tail:\n" + qemu.tail(log, 30))
