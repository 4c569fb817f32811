"""Unit tests for plugins/module_utils/_host.py, on real files in a temporary tree and a real AnsibleModule."""

import json
import os
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.lastwords.panic.plugins.module_utils._host import (
    Tree,
    boot_ram_bytes,
    checked_root,
    mem_total_bytes,
    read_text,
    remove,
    sync_reboot_marker,
    under,
    write_atomic,
)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_under_maps_host_paths_into_the_root(tmp_path):
    assert under('/', '/etc/default/grub') == '/etc/default/grub'
    assert under(str(tmp_path), '/etc/default/grub') == str(tmp_path / 'etc/default/grub')


def test_checked_root_takes_an_existing_absolute_directory(tmp_path, module):
    assert checked_root(module, str(tmp_path) + '/./') == str(tmp_path)


@pytest.mark.parametrize('value', ['relative/dir', '/does/not/exist'])
def test_checked_root_fails_naming_the_option(value, module, capsys):
    with pytest.raises(SystemExit):
        checked_root(module, value)
    result = json.loads(capsys.readouterr().out)
    assert result['failed'] is True
    assert result['msg'] == 'root=%s is not an existing absolute directory' % value


def test_read_text_is_none_for_a_missing_or_binary_file(tmp_path):
    (tmp_path / 'text').write_text('GRUB_DEFAULT=saved\n')
    (tmp_path / 'binary').write_bytes(b'\xff\xfe\x00garbage')
    assert read_text(str(tmp_path / 'text')) == 'GRUB_DEFAULT=saved\n'
    assert read_text(str(tmp_path / 'binary')) is None
    assert read_text(str(tmp_path / 'missing')) is None
    assert read_text(str(tmp_path)) is None  # a directory


def test_write_atomic_makes_the_directory_and_gives_the_mode(tmp_path, module):
    path = tmp_path / 'var/lib/lastwords/kernel.json'
    write_atomic(module, str(path), '{"a": 1}\n', mode=0o600)
    assert path.read_text() == '{"a": 1}\n'
    assert mode_of(path) == 0o600
    assert mode_of(path.parent) & 0o755 == 0o755


def test_write_atomic_replaces_an_old_file_with_text_or_bytes_and_leaves_no_temp(tmp_path, module):
    path = tmp_path / 'grubenv'
    path.write_text('old\n')
    os.chmod(path, 0o600)
    old_inode = os.stat(path).st_ino
    write_atomic(module, str(path), b'# GRUB Environment Block\n')
    assert path.read_bytes() == b'# GRUB Environment Block\n'
    assert mode_of(path) == 0o644  # the mode asked for, not the old file's
    assert os.stat(path).st_ino != old_inode  # a new file moved over the old one, not a rewrite in place
    write_atomic(module, str(path), 'caf\u00e9\n')
    assert path.read_text(encoding='utf-8') == 'caf\u00e9\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['grubenv']


def test_write_atomic_that_fails_leaves_the_old_file_and_no_temp(tmp_path, module, monkeypatch):
    path = tmp_path / 'etc/default/grub.d/lastwords.cfg'
    path.parent.mkdir(parents=True)
    path.write_text('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=256M"\n')

    def no_move(src, dest):
        raise OSError('disk full')
    monkeypatch.setattr(module, 'atomic_move', no_move)
    with pytest.raises(OSError):
        write_atomic(module, str(path), 'half')
    assert path.read_text() == 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=256M"\n'
    assert [p.name for p in path.parent.iterdir()] == ['lastwords.cfg']


def test_remove_takes_files_and_dangling_links_and_ignores_the_missing(tmp_path):
    (tmp_path / 'file').write_text('x')
    os.symlink(str(tmp_path / 'nowhere'), str(tmp_path / 'link'))
    for name in ('file', 'link', 'missing'):
        remove(str(tmp_path / name))
    assert list(tmp_path.iterdir()) == []


def test_tree_reads_under_its_root_and_every_miss_is_none(tmp_path):
    (tmp_path / 'sys/kernel').mkdir(parents=True)
    (tmp_path / 'sys/kernel/kexec_crash_size').write_text('268435456\n')
    (tmp_path / 'sys/kernel/kexec_crash_loaded').write_text('yes\n')
    tree = Tree(str(tmp_path))
    assert tree.path('/sys/kernel') == str(tmp_path / 'sys/kernel')
    assert tree.exists('/sys/kernel/kexec_crash_size') and tree.isdir('/sys/kernel')
    assert tree.line('/sys/kernel/kexec_crash_size') == '268435456'
    assert tree.integer('/sys/kernel/kexec_crash_size') == 268435456
    assert tree.integer('/sys/kernel/kexec_crash_loaded') is None  # not a number
    assert tree.integer('/sys/kernel/missing') is None and tree.read('/sys/kernel/missing') is None
    assert tree.listdir('/sys/kernel') == ['kexec_crash_loaded', 'kexec_crash_size']
    assert tree.listdir('/sys/missing') == []


def marker_module(check=False):
    with patch_module_args({'_ansible_check_mode': check}):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_reboot_marker_keeps_other_lines_and_replaces_only_the_covered_ones(tmp_path):
    marker = tmp_path / 'run/lastwords/reboot-required'
    marker.parent.mkdir(parents=True)
    marker.write_text('someone-else: a kernel update\n'
                      'lastwords.panic.kernel_cmdline[crashkernel]: crashkernel=256M (now none)\n'
                      'lastwords.panic.kernel_cmdline[netconsole.netconsole]: netconsole.netconsole=... (now none)\n')
    module = marker_module()
    sync_reboot_marker(module, str(tmp_path), 'lastwords.panic.kernel_cmdline',
                       {'crashkernel': 'crashkernel=512M (now none)'}, covered=['crashkernel'],
                       same=lambda name: name.replace('-', '_'))
    sync_reboot_marker(module, str(tmp_path), 'lastwords.panic.kernel_boot', {'trial': 'trial boot of 6.1.0-47'})
    assert marker.read_text().splitlines() == [
        'someone-else: a kernel update',
        'lastwords.panic.kernel_cmdline[netconsole.netconsole]: netconsole.netconsole=... (now none)',
        'lastwords.panic.kernel_cmdline[crashkernel]: crashkernel=512M (now none)',
        'lastwords.panic.kernel_boot[trial]: trial boot of 6.1.0-47',
    ]
    # all of one tag's lines go when nothing is pending and nothing is named; the file goes when it is empty
    sync_reboot_marker(module, str(tmp_path), 'lastwords.panic.kernel_boot', {})
    sync_reboot_marker(module, str(tmp_path), 'lastwords.panic.kernel_cmdline', {})
    assert marker.read_text() == 'someone-else: a kernel update\n'
    marker.write_text('lastwords.panic.kernel_boot[trial]: trial boot of 6.1.0-47\n')
    sync_reboot_marker(module, str(tmp_path), 'lastwords.panic.kernel_boot', {})
    assert not marker.exists()


def test_reboot_marker_is_not_written_in_check_mode(tmp_path):
    sync_reboot_marker(marker_module(check=True), str(tmp_path), 'lastwords.panic.kernel_boot', {'trial': 'x'})
    assert not (tmp_path / 'run').exists()
    sync_reboot_marker(marker_module(), str(tmp_path), 'lastwords.panic.kernel_boot', {'trial': 'x'})
    assert (tmp_path / 'run/lastwords/reboot-required').read_text() == 'lastwords.panic.kernel_boot[trial]: x\n'


def test_ram_read_from_meminfo_and_the_crash_reservation(tmp_path):
    assert mem_total_bytes(str(tmp_path)) is None and boot_ram_bytes(str(tmp_path)) is None
    (tmp_path / 'proc').mkdir()
    (tmp_path / 'proc/meminfo').write_text('MemTotal:        1759492 kB\nMemFree:          902776 kB\n')
    assert mem_total_bytes(str(tmp_path)) == 1759492 * 1024
    assert boot_ram_bytes(str(tmp_path)) == 1759492 * 1024  # no reservation file: nothing added
    (tmp_path / 'sys/kernel').mkdir(parents=True)
    (tmp_path / 'sys/kernel/kexec_crash_size').write_text('268435456\n')
    assert boot_ram_bytes(str(tmp_path)) == 1759492 * 1024 + 268435456
    (tmp_path / 'proc/meminfo').write_text('MemTotal:        lots kB\n')
    assert mem_total_bytes(str(tmp_path)) is None
