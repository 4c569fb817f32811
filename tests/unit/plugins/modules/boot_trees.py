"""Host trees of the boot setups the lab cannot boot on this network, and of systemd-boot, from their real files.

Each tree holds what the modules read on such a host, in the formats the tools write: kernel-install's type #1
entries (systemd's 90-loaderentry.install), efivarfs files (a 4-byte attribute word, then the value, UTF-16LE for
systemd-boot's variables), Proxmox VE's /etc/kernel files, the Raspberry Pi's cmdline.txt and device-tree model.
The formats are the tools' own; the values (UUIDs, machine ids, releases) are made up in the shapes real installs
have. systemd-boot is booted in the lab too; Proxmox VE and Raspberry Pi OS have no mirror on this network.
"""

import os

LOADER_GUID = '4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'
# efivarfs: EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS = 7; LoaderInfo is volatile (6)
VOLATILE = b'\x06\x00\x00\x00'


def efivar(text, attributes=VOLATILE):
    return attributes + (text + '\0').encode('utf-16-le')


MACHINE_ID = '6d1c4c4f7c3f4c2ea0b2d5e0f1a9b8c7'
TRIXIE_ROOT = 'root=UUID=2b7c1f0e-5a4d-4e3b-9c8a-1f2e3d4c5b6a ro console=ttyS0,115200 quiet'


def trixie_entry(release):
    return (
        '# Boot Loader Specification type#1 entry\n'
        '# File created by /usr/lib/kernel/install.d/90-loaderentry.install (systemd 257.9-1~deb13u1)\n'
        'title      Debian GNU/Linux 13 (trixie)\n'
        'version    %(release)s\n'
        'machine-id %(mid)s\n'
        'sort-key   debian\n'
        'options    %(options)s\n'
        'linux      /%(mid)s/%(release)s/linux\n'
        'initrd     /%(mid)s/%(release)s/initrd.img-%(release)s\n'
    ) % {'release': release, 'mid': MACHINE_ID, 'options': TRIXIE_ROOT}


SYSTEMD_BOOT = {
    # Debian 13 on UEFI booted by systemd-boot (package systemd-boot, ESP on /boot/efi); kernel-install wrote the
    # entries from /proc/cmdline, as Debian ships no /etc/kernel/cmdline.
    'sys/firmware/efi/efivars/LoaderInfo-' + LOADER_GUID: efivar('systemd-boot 257.9-1~deb13u1'),
    'boot/efi/loader/loader.conf': 'timeout 3\n#console-mode keep\n',
    'boot/efi/loader/entries/%s-6.12.48+deb13-amd64.conf' % MACHINE_ID: trixie_entry('6.12.48+deb13-amd64'),
    'boot/efi/loader/entries/%s-6.12.43+deb13-amd64.conf' % MACHINE_ID: trixie_entry('6.12.43+deb13-amd64'),
    'etc/machine-id': MACHINE_ID + '\n',
    'etc/default/grub': 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',  # grub-common left installed
    'proc/cmdline': 'initrd=\\%s\\6.12.48+deb13-amd64\\initrd.img-6.12.48+deb13-amd64 %s\n'
                    % (MACHINE_ID, TRIXIE_ROOT),
    'proc/meminfo': 'MemTotal:        2014468 kB\n',
}

PROXMOX = {
    # Proxmox VE 8 installed on a ZFS mirror booting in UEFI mode: systemd-boot on two ESPs kept by
    # proxmox-boot-tool, the address on vmbr0.
    'usr/sbin/proxmox-boot-tool': None,  # the test puts its stand-in here
    'etc/kernel/proxmox-boot-uuids': '5C6A-1F2B\n5C6A-8E3D\n',
    'etc/kernel/cmdline': 'root=ZFS=rpool/ROOT/pve-1 boot=zfs\n',
    'sys/firmware/efi/efivars/LoaderInfo-' + LOADER_GUID: efivar('systemd-boot 252.31-1~deb12u1'),
    'etc/default/grub': 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="root=ZFS=rpool/ROOT/pve-1 boot=zfs"\n',
    'proc/cmdline': 'initrd=\\EFI\\proxmox\\6.8.12-4-pve\\initrd.img-6.8.12-4-pve root=ZFS=rpool/ROOT/pve-1 '
                    'boot=zfs\n',
    'proc/meminfo': 'MemTotal:       65742300 kB\n',
}

RASPBERRY_PI = {
    # Raspberry Pi OS (bookworm, 64-bit) on a Pi 4: the firmware reads /boot/firmware/cmdline.txt.
    'proc/device-tree/model': b'Raspberry Pi 4 Model B Rev 1.5\x00',
    'boot/firmware/cmdline.txt': 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 '
                                 'fsck.repair=yes rootwait quiet splash plymouth.ignore-udev '
                                 'cfg80211.ieee80211_regdom=GB\n',
    'boot/firmware/config.txt': '[all]\narm_64bit=1\nauto_initramfs=1\n',
    'proc/cmdline': 'coherent_pool=1M 8250.nr_uarts=1 snd_bcm2835.enable_headphones=0 bcm2708_fb.fbwidth=0 '
                    'bcm2708_fb.fbheight=0 bcm2708_fb.fbswap=1 smsc95xx.macaddr=DC:A6:32:01:02:03 '
                    'vc_mem.mem_base=0x3ec00000 vc_mem.mem_size=0x40000000  console=ttyS0,115200 console=tty1 '
                    'root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet splash '
                    'plymouth.ignore-udev cfg80211.ieee80211_regdom=GB\n',
    'proc/meminfo': 'MemTotal:        3880404 kB\n',
}


def build(root, files):
    """Write ``files`` (relative path -> text, bytes, or None for "leave it to the test") under ``root``."""
    for relative, content in files.items():
        if content is None:
            continue
        path = os.path.join(str(root), relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as handle:
            handle.write(content if isinstance(content, bytes) else content.encode('utf-8'))
    return root
