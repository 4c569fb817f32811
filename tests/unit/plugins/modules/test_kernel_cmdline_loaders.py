"""kernel_cmdline on the boot loaders whose command line is one line of one file, on host trees (boot_trees.py).

systemd-boot: /etc/kernel/cmdline for kernels installed later, and the options of the installed entries.
proxmox-boot-tool: /etc/kernel/cmdline, then a stand-in proxmox-boot-tool that records its calls and can fail.
Raspberry Pi: /boot/firmware/cmdline.txt, one line. And what auto-detection picks on each tree, or refuses.
"""

import os

import boot_trees
import pytest
from module_results import module_runner, warnings_of

from ansible_collections.lastwords.panic.plugins.module_utils._bootloader import detect
from ansible_collections.lastwords.panic.plugins.modules import kernel_cmdline

ENTRY_DIR = 'boot/efi/loader/entries'


@pytest.fixture(name="run")
def _run(capsys):
    return module_runner(kernel_cmdline.main, capsys)


def read(root, relative):
    with open(os.path.join(str(root), relative)) as handle:
        return handle.read()


def snapshot(root):
    out = {}
    for directory, _dirs, files in os.walk(str(root)):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as handle:
                out[os.path.relpath(path, str(root))] = handle.read()
    return out


def options_of(root):
    entries = sorted(os.listdir(os.path.join(str(root), ENTRY_DIR)))
    return [line.split(None, 1)[1] for name in entries for line in read(root, ENTRY_DIR + '/' + name).splitlines()
            if line.startswith('options')]


@pytest.mark.parametrize(('tree', 'expected'), [
    (boot_trees.SYSTEMD_BOOT, 'systemd-boot'),
    (boot_trees.RASPBERRY_PI, 'cmdline-txt'),
    ({'etc/default/grub': 'GRUB_DEFAULT=0\n'}, 'grub-debian'),
    ({'usr/sbin/grubby': '', 'etc/default/grub': ''}, 'grubby'),
    (dict(boot_trees.PROXMOX, **{'usr/sbin/proxmox-boot-tool': ''}), 'proxmox-boot-tool'),
    # the tool with no ESP to keep (a Proxmox host that boots GRUB from its root disk): what booted the host decides,
    # here systemd-boot's LoaderInfo
    (dict(boot_trees.PROXMOX, **{'usr/sbin/proxmox-boot-tool': '', 'etc/kernel/proxmox-boot-uuids': ''}),
     'systemd-boot'),
    # systemd-boot installed but GRUB booted the host (no LoaderInfo): GRUB
    ({'boot/efi/loader/loader.conf': 'timeout 3\n', 'etc/default/grub': ''}, 'grub-debian'),
    # a cmdline.txt on a machine that is not a Pi is not taken for one
    ({'boot/firmware/cmdline.txt': 'root=/dev/sda2\n', 'etc/default/grub': ''}, 'grub-debian'),
])
def test_auto_detection_reads_what_booted_the_host(tmp_path, tree, expected):
    assert detect(str(boot_trees.build(tmp_path, tree))) == expected


def test_an_unknown_boot_setup_fails_before_any_change_naming_what_was_looked_for(tmp_path, run):
    root = boot_trees.build(tmp_path, {'proc/cmdline': 'root=/dev/vda1 ro\n', 'proc/meminfo': 'MemTotal: 1 kB\n'})
    before = snapshot(root)
    result = run({'root': str(root), 'args': {'crashkernel': '256M'}})
    assert result['failed'] is True
    for looked_for in ('proxmox-boot-tool', 'grubby', 'LoaderInfo-', '/proc/device-tree/model', '/etc/default/grub',
                       'set bootloader'):
        assert looked_for in result['msg'], result['msg']
    assert snapshot(root) == before


# ------------------------------------------------------------------------------------------------ systemd-boot

def test_systemd_boot_writes_kernel_cmdline_and_every_installed_entry(tmp_path, run):
    root = boot_trees.build(tmp_path, boot_trees.SYSTEMD_BOOT)
    result = run({'root': str(root), 'args': {'crashkernel': '256M'}, 'remove': ['quiet']})
    assert result['bootloader'] == 'systemd-boot' and result['changed'] is True
    assert result['cmdline_file'] == '/etc/kernel/cmdline'
    # started from /proc/cmdline without systemd-boot's own initrd=, as kernel-install would
    wanted = 'root=UUID=2b7c1f0e-5a4d-4e3b-9c8a-1f2e3d4c5b6a ro console=ttyS0,115200 crashkernel=256M'
    assert read(root, 'etc/kernel/cmdline') == wanted + '\n'
    assert options_of(root) == [wanted, wanted]
    assert len(result['entries']) == 2 and all(e.startswith('/boot/efi/loader/entries/') for e in result['entries'])
    # everything else in an entry stays as kernel-install wrote it
    entry = read(root, ENTRY_DIR + '/%s-6.12.48+deb13-amd64.conf' % boot_trees.MACHINE_ID)
    assert entry == boot_trees.trixie_entry('6.12.48+deb13-amd64').replace(boot_trees.TRIXIE_ROOT, wanted)
    assert result['reboot_required'] is True
    assert result['pending'] == ['crashkernel=256M (now absent)', 'no quiet (now quiet)']
    assert not (root / 'etc/default/grub.d').exists()  # GRUB's drop-in is not for this host


def test_systemd_boot_second_run_changes_nothing(tmp_path, run):
    root = boot_trees.build(tmp_path, boot_trees.SYSTEMD_BOOT)
    run({'root': str(root), 'args': {'crashkernel': '256M'}})
    before = snapshot(root)
    result = run({'root': str(root), 'args': {'crashkernel': '256M'}})
    assert result['changed'] is False and result['entries'] == []
    assert snapshot(root) == before


def test_systemd_boot_check_mode_writes_nothing_and_diffs_file_and_entries(tmp_path, run):
    root = boot_trees.build(tmp_path, boot_trees.SYSTEMD_BOOT)
    before = snapshot(root)
    result = run({'root': str(root), 'args': {'crashkernel': '256M'}}, check=True, diff=True)
    assert result['changed'] is True and snapshot(root) == before
    headers = [d['after_header'] for d in result['diff']]
    assert headers[0] == '/etc/kernel/cmdline' and len(headers) == 3
    assert all('crashkernel=256M' in d['after'] and 'crashkernel' not in d['before'] for d in result['diff'])


def test_systemd_boot_keeps_an_existing_kernel_cmdline_and_edits_only_managed_names(tmp_path, run):
    tree = dict(boot_trees.SYSTEMD_BOOT, **{'etc/kernel/cmdline': 'root=/dev/vda2 ro\nconsole=ttyS0 quiet\n'})
    root = boot_trees.build(tmp_path, tree)
    run({'root': str(root), 'args': {'crashkernel': '256M'}})
    assert read(root, 'etc/kernel/cmdline') == 'root=/dev/vda2 ro console=ttyS0 quiet crashkernel=256M\n'


def test_systemd_boot_update_false_leaves_the_entries_and_a_later_run_catches_up(tmp_path, run):
    root = boot_trees.build(tmp_path, boot_trees.SYSTEMD_BOOT)
    first = run({'root': str(root), 'args': {'crashkernel': '256M'}, 'update': False})
    assert first['changed'] is True and first['entries'] == []
    assert all('crashkernel' not in options for options in options_of(root))
    second = run({'root': str(root), 'args': {'crashkernel': '256M'}})
    assert second['changed'] is True and len(second['entries']) == 2
    assert all('crashkernel=256M' in options for options in options_of(root))


def test_systemd_boot_leaves_kernel_boots_trial_entry_alone(tmp_path, run):
    trial = ENTRY_DIR + '/lastwords-trial.conf'
    tree = dict(boot_trees.SYSTEMD_BOOT, **{trial: 'title trial\nlinux /x/linux\noptions root=/dev/vda2 panic=10\n'})
    root = boot_trees.build(tmp_path, tree)
    result = run({'root': str(root), 'args': {'crashkernel': '256M'}})
    assert len(result['entries']) == 2
    assert read(root, trial) == tree[trial]


# ------------------------------------------------------------------------------------------------ proxmox-boot-tool

STAND_IN = """#!/bin/sh
# stand-in for proxmox-boot-tool: records its arguments and the command line it would copy to the ESPs
echo "$* | $(cat '{root}/etc/kernel/cmdline')" >> '{log}'
[ "$1" = refresh ] || {{ echo "unexpected $*" >&2; exit 2; }}
exit {rc}
"""


def proxmox(tmp_path, rc=0):
    root = boot_trees.build(tmp_path / 'root', boot_trees.PROXMOX)
    tool = root / 'usr/sbin/proxmox-boot-tool'
    tool.parent.mkdir(parents=True, exist_ok=True)
    log = tmp_path / 'calls.log'
    tool.write_text(STAND_IN.format(root=root, log=log, rc=rc))
    tool.chmod(0o755)
    return root, tool, log


def test_proxmox_edits_kernel_cmdline_then_refreshes_the_esps(tmp_path, run):
    root, tool, log = proxmox(tmp_path)
    result = run({'root': str(root), 'proxmox_boot_tool': str(tool), 'args': {'crashkernel': '512M'}})
    assert result['bootloader'] == 'proxmox-boot-tool' and result['changed'] is True
    wanted = 'root=ZFS=rpool/ROOT/pve-1 boot=zfs crashkernel=512M'
    assert read(root, 'etc/kernel/cmdline') == wanted + '\n'
    assert log.read_text() == 'refresh | %s\n' % wanted  # refreshed after the file was written
    again = run({'root': str(root), 'proxmox_boot_tool': str(tool), 'args': {'crashkernel': '512M'}})
    assert again['changed'] is False and log.read_text().count('refresh') == 1


def test_proxmox_refresh_failure_puts_the_old_file_back(tmp_path, run):
    root, tool, log = proxmox(tmp_path, rc=1)
    before = read(root, 'etc/kernel/cmdline')
    result = run({'root': str(root), 'proxmox_boot_tool': str(tool), 'args': {'crashkernel': '512M'}})
    assert result['failed'] is True and 'proxmox-boot-tool refresh exited with 1' in result['msg']
    assert '/etc/kernel/cmdline was restored' in result['msg']
    assert read(root, 'etc/kernel/cmdline') == before
    assert 'crashkernel=512M' in log.read_text()  # it was tried with the new line


def test_proxmox_under_another_root_needs_the_tool_named(tmp_path, run):
    root, _tool, log = proxmox(tmp_path)
    before = snapshot(root)
    result = run({'root': str(root), 'args': {'crashkernel': '512M'}})
    assert result['failed'] is True and "would refresh the host's ESPs" in result['msg']
    assert snapshot(root) == before and not log.exists()


# ------------------------------------------------------------------------------------------------ Raspberry Pi

def test_pi_cmdline_txt_stays_one_line_with_the_rest_kept(tmp_path, run):
    root = boot_trees.build(tmp_path, boot_trees.RASPBERRY_PI)
    result = run({'root': str(root), 'args': {'netconsole': '6665@10.77.0.31/eth0,6666@10.77.0.10/52:54:00:77:00:01'},
                  'remove': ['splash']})
    assert result['bootloader'] == 'cmdline-txt' and result['cmdline_file'] == '/boot/firmware/cmdline.txt'
    text = read(root, 'boot/firmware/cmdline.txt')
    assert text.count('\n') == 1 and text.endswith('\n')
    assert text == ('console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes '
                    'rootwait quiet plymouth.ignore-udev cfg80211.ieee80211_regdom=GB '
                    'netconsole=6665@10.77.0.31/eth0,6666@10.77.0.10/52:54:00:77:00:01\n')
    assert result['reboot_required'] is True


def test_pi_without_its_cmdline_txt_fails_naming_the_file(tmp_path, run):
    tree = dict(boot_trees.RASPBERRY_PI)
    del tree['boot/firmware/cmdline.txt']
    root = boot_trees.build(tmp_path, tree)
    result = run({'root': str(root), 'bootloader': 'cmdline-txt', 'args': {'crashkernel': '256M'}})
    assert result['failed'] is True and '/boot/firmware/cmdline.txt does not exist' in result['msg']
    assert 'cmdline_file' in result['msg']


DEBIAN_PI = dict(boot_trees.RASPBERRY_PI, **{
    # Debian's raspi-firmware (bookworm): its hook writes cmdline.txt anew from a template and the extras file
    'etc/kernel/postinst.d/z50-raspi-firmware': (
        '#!/bin/sh\n# ...\nif [ -f /etc/default/raspi-extra-cmdline ]; then\n'
        '  cmdline_extra="$(cat /etc/default/raspi-extra-cmdline)"\nfi\n'),
    'etc/default/raspi-extra-cmdline': 'quiet\n',
    'boot/firmware/cmdline.txt': 'console=tty0 console=ttyS1,115200 root=/dev/mmcblk0p2 rw fsck.repair=yes '
                                 'net.ifnames=0  rootwait quiet\n',
})


def test_debian_pi_edits_the_extras_raspi_firmware_appends_too(tmp_path, run):
    root = boot_trees.build(tmp_path, DEBIAN_PI)
    result = run({'root': str(root), 'args': {'crashkernel': '256M'}, 'remove': ['quiet', 'net.ifnames']})
    assert read(root, 'etc/default/raspi-extra-cmdline') == 'crashkernel=256M\n'
    assert read(root, 'boot/firmware/cmdline.txt') == ('console=tty0 console=ttyS1,115200 root=/dev/mmcblk0p2 rw '
                                                       'fsck.repair=yes rootwait crashkernel=256M\n')
    assert result['entries'] == ['/etc/default/raspi-extra-cmdline']
    # net.ifnames comes from the hook's template: its removal lasts only until the next kernel update
    warnings = ' '.join(warnings_of(result))
    assert 'net.ifnames: removed from /boot/firmware/cmdline.txt' in warnings and 'quiet' not in warnings
    assert run({'root': str(root), 'args': {'crashkernel': '256M'}, 'remove': ['quiet']})['changed'] is False
