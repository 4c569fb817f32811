"""capture_facts on temporary trees: one armed Debian 12 host, then one broken thing at a time.

The tree holds what a real host shows (proc, sysfs, configfs and /etc files with realistic contents); the kdump
service is asked through a stand-in systemctl script that answers from a file, as systemctl answers from PID 1.
"""

import json
import os
import shutil
import textwrap
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from module_results import warnings_of

from ansible_collections.lastwords.panic.plugins.modules import capture_facts

MiB = 1 << 20
GiB = 1 << 30
RELEASE = '6.1.0-27-amd64'
CMDLINE = ('BOOT_IMAGE=/boot/vmlinuz-%s root=UUID=4f1c2e0a-9b7d-4c59-8f3e-2a6d1b0c9e55 ro console=ttyS0 '
           'net.ifnames=0 quiet crashkernel=256M' % RELEASE)
MEMTOTAL_KB = 1742124  # a 2 GiB guest with 256 MiB reserved for the crash kernel

IOMEM = textwrap.dedent("""\
    00000000-00000fff : Reserved
    00001000-0009fbff : System RAM
    0009fc00-0009ffff : Reserved
    000f0000-000fffff : System ROM
    00100000-7ffdcfff : System RAM
      2e000000-3dffffff : Crash kernel
      5d000000-5e002616 : Kernel code
      5e200000-5ec64fff : Kernel rodata
      5ee00000-5f1a3dbf : Kernel data
    7ffdd000-7fffffff : Reserved
    b0000000-bfffffff : PCI MMCONFIG 0000 [bus 00-ff]
""")

KDUMP_TOOLS = textwrap.dedent("""\
    # kdump-tools configuration
    # ---------------------------------------------------------------------------
    # USE_KDUMP - controls kdump will be configured
    #     0 - kdump kernel will not be loaded
    #     1 - kdump kernel will be loaded and kdump is configured
    #
    USE_KDUMP=1
    # KDUMP_COREDIR - local path to save the vmcore to.
    KDUMP_COREDIR="/var/crash"
    # MAKEDUMP_ARGS - extra arguments passed to makedumpfile (8).
    MAKEDUMP_ARGS="-c -d 31"
    #KDUMP_NUM_DUMPS=
    #SSH="<user at server>"
""")

FAKE_SYSTEMCTL = """\
#!/bin/sh
# Stand-in for systemctl: unit states come from files, exit codes follow systemctl's.
case "$1" in
  is-active|is-enabled) ;;
  *) echo "fake systemctl: unsupported $1" >&2; exit 2 ;;
esac
file='{units}'/"$2.$1"
if [ -f "$file" ]; then state=$(cat "$file"); else state=inactive; [ "$1" = is-enabled ] && state=not-found; fi
echo "$state"
case "$state" in active|enabled) exit 0 ;; *) exit 3 ;; esac
"""


def write(path, text='', mode=None):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), 'w') as handle:
        handle.write(text)
    if mode is not None:
        os.chmod(str(path), mode)


class StatvfsResult(object):
    def __init__(self, free):
        self.f_frsize = 4096
        self.f_bavail = free // 4096


class Host(object):
    """An armed Debian 12 host: crashkernel=256M reserved and loaded, kdump-tools active, netconsole to lab."""

    def __init__(self, base, monkeypatch):
        self.base = base
        self.root = base / 'root'
        self.units = base / 'units'
        self.systemctl = base / 'bin' / 'systemctl'
        self.dump_free = 20 * GiB
        self.files = {
            'proc/cmdline': CMDLINE + '\n',
            'proc/sys/kernel/osrelease': RELEASE + '\n',
            'proc/sys/kernel/printk': '8\t4\t1\t7\n',
            'proc/meminfo': 'MemTotal:        %d kB\nMemFree:          982312 kB\nMemAvailable:    1391204 kB\n'
                            % MEMTOTAL_KB,
            'proc/iomem': IOMEM,
            'sys/kernel/kexec_crash_size': '268435456\n',
            'sys/kernel/kexec_crash_loaded': '1\n',
            'sys/kernel/kexec_loaded': '0\n',
            'sys/module/netconsole/refcnt': '0\n',
            'sys/module/printk/parameters/ignore_loglevel': 'N\n',
            'etc/default/kdump-tools': KDUMP_TOOLS,
            'usr/sbin/kdump-config': '',
            'var/lib/kdump/initrd.img-%s' % RELEASE: 'initramfs\n',
            'var/lib/kdump/vmlinuz-%s' % RELEASE: 'kernel\n',
            'var/crash/kexec_cmd': '/sbin/kexec -p --command-line="..." /var/lib/kdump/vmlinuz\n',
            'var/crash/202611252140/dump.202611252140': 'x' * 4096,
            'var/crash/202611252140/dmesg.202611252140': '[    0.000000] Linux version %s\n' % RELEASE,
            'etc/systemd/system/multi-user.target.wants/kdump-tools.service': '',
        }
        target = 'sys/kernel/config/netconsole/lab/'
        for name, value in (('enabled', '1'), ('extended', '1'), ('release', '0'), ('dev_name', 'eth1'),
                            ('local_port', '6665'), ('remote_port', '6666'), ('local_ip', '10.0.3.11'),
                            ('remote_ip', '10.0.3.1'), ('local_mac', '52:54:00:aa:bb:11'),
                            ('remote_mac', '52:54:00:aa:bb:01'), ('transmit_errors', '0')):
            self.files[target + name] = value + '\n'
        for path, text in self.files.items():
            write(self.root / path, text)
        write(self.units / 'kdump-tools.is-active', 'active\n')
        write(self.units / 'kdump-tools.is-enabled', 'enabled\n')
        write(self.systemctl, FAKE_SYSTEMCTL.format(units=self.units), 0o755)
        real_statvfs = os.statvfs

        def statvfs(path):
            if str(path).startswith(str(self.root)):
                return StatvfsResult(self.dump_free)
            return real_statvfs(path)
        monkeypatch.setattr(os, 'statvfs', statvfs)

    def set(self, path, text):
        write(self.root / path, text)

    def remove(self, path):
        full = self.root / path
        if full.is_dir():
            shutil.rmtree(str(full))
        else:
            full.unlink()

    def service(self, state):
        write(self.units / 'kdump-tools.is-active', state + '\n')

    def params(self, **kwargs):
        params = {'root': str(self.root), 'systemctl': str(self.systemctl)}
        params.update(kwargs)
        return params


@pytest.fixture
def host(tmp_path, monkeypatch):
    return Host(tmp_path, monkeypatch)


@pytest.fixture
def run(capsys):
    def runner(params, check=False, whole=False):
        """The module's ``capture`` (with ``whole``, everything it printed: warnings too)."""
        args = dict(params)
        args['_ansible_check_mode'] = check
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                capture_facts.main()
        result = json.loads(capsys.readouterr().out)
        assert not result.get('failed'), result.get('msg')
        return result if whole else result['capture']
    return runner


NOT_LOADED = 'crash kernel not loaded (/sys/kernel/kexec_crash_loaded is 0)'


# ------------------------------------------------------------------------------------------------- armed

def test_armed_host(host, run, capsys):
    capture = run(host.params())
    assert capture['problems'] == []
    assert capture['armed'] is True
    assert capture['kernel_release'] == RELEASE
    assert capture['crashkernel'] == '256M'
    assert capture['crash_size'] == 256 * MiB
    assert capture['crash_loaded'] is True
    assert capture['iomem_crash_kernel'] is True
    assert capture['mem_total_bytes'] == MEMTOTAL_KB * 1024
    assert capture['kdump']['flavor'] == 'debian'
    assert capture['kdump']['enabled'] is True
    assert capture['kdump']['config']['MAKEDUMP_ARGS'] == '-c -d 31'
    assert capture['kdump']['service'] == {'name': 'kdump-tools', 'state': 'active', 'enabled': 'enabled'}
    assert capture['kdump']['initrd'] == '/var/lib/kdump/initrd.img-%s' % RELEASE
    assert capture['kdump']['initrd_exists'] is True
    assert capture['dump_dir'] == '/var/crash'
    assert capture['dump_dir_free_bytes'] == 20 * GiB
    assert capture['dump_space_needed_bytes'] == int(MEMTOTAL_KB * 1024 * 0.05)
    assert capture['dump_space_ok'] is True
    assert capture['console_loglevel'] == 8
    assert capture['printk'] == [8, 4, 1, 7]
    assert capture['reboot_pending'] is False
    assert capture['netconsole']['loaded'] is True
    assert capture['netconsole']['enabled_targets'] == 1
    assert capture['netconsole']['targets'] == [{
        'name': 'lab', 'enabled': True, 'dev_name': 'eth1', 'local_ip': '10.0.3.11', 'local_port': 6665,
        'remote_ip': '10.0.3.1', 'remote_port': 6666, 'remote_mac': '52:54:00:aa:bb:01', 'extended': True,
        'release': False, 'transmit_errors': 0}]


def test_result_is_also_the_fact_and_check_mode_is_the_same(host, run, capsys):
    args = dict(host.params(), _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            capture_facts.main()
    result = json.loads(capsys.readouterr().out)
    assert result['changed'] is False
    assert result['ansible_facts']['lastwords_capture'] == result['capture']
    assert result['capture']['armed'] is True


def test_existing_dumps_are_listed(host, run):
    dump_dir = host.root / 'var/crash/202611252140'
    os.utime(str(dump_dir), (1795000000, 1795000000))
    host.set('var/crash/202611260910/dump-incomplete', 'x' * 100)
    dumps = run(host.params())['dumps']
    assert [dump['name'] for dump in dumps] == ['202611252140', '202611260910']
    first, second = dumps
    assert first['path'] == '/var/crash/202611252140'
    assert first['files'] == ['dmesg.202611252140', 'dump.202611252140']
    assert first['size_bytes'] == 4096 + len('[    0.000000] Linux version %s\n' % RELEASE)
    assert first['mtime'] == 1795000000
    assert (first['has_vmcore'], first['has_dmesg'], first['incomplete']) == (True, True, False)
    assert (second['has_vmcore'], second['incomplete']) == (False, True)


def test_crashkernel_is_the_one_the_kernel_uses(host, run):
    host.set('proc/cmdline', CMDLINE.replace('crashkernel=256M', 'crashkernel=384M-:128M crashkernel=512M,high '
                                             'crashkernel=256M crashkernel=128M,low') + '\n')
    assert run(host.params())['crashkernel'] == '256M'
    host.set('proc/cmdline', CMDLINE.replace('crashkernel=256M', 'crashkernel=512M,high crashkernel=128M,low') + '\n')
    capture = run(host.params())
    assert capture['crashkernel'] == '512M,high'
    assert capture['problems'] == []


def test_reboot_marker_is_reported(host, run):
    host.set('run/lastwords/reboot-required',
             'lastwords.panic.kernel_cmdline[crashkernel]: crashkernel=256M (now absent)\n')
    capture = run(host.params())
    assert capture['reboot_pending'] is True
    assert capture['reboot_pending_files'] == ['/run/lastwords/reboot-required']
    assert capture['armed'] is True  # a pending reboot is reported, not a reason


def test_netconsole_on_the_kernel_command_line_counts_as_a_target(host, run):
    host.remove('sys/kernel/config/netconsole')
    host.set('proc/cmdline', CMDLINE + ' netconsole=+6665@10.0.3.11/eth1,6666@10.0.3.1/52:54:00:aa:bb:01\n')
    capture = run(host.params())
    assert capture['problems'] == []
    assert capture['netconsole']['cmdline'] == '+6665@10.0.3.11/eth1,6666@10.0.3.1/52:54:00:aa:bb:01'


def test_netconsole_module_parameter_on_the_command_line_counts_as_a_target(host, run):
    # what the netconsole role's cmdline mode writes, and Debian 13's /proc/cmdline showed after its reboot (the
    # module form: netconsole is =m on Debian); it was reported as "no enabled netconsole target" before
    host.remove('sys/kernel/config/netconsole')
    host.set('proc/cmdline', CMDLINE + ' netconsole.netconsole=6665@10.77.0.22/eth1,6666@10.77.0.10/52:54:00:77:00:01'
             ' crashkernel=256M\n')
    capture = run(host.params())
    assert capture['problems'] == []
    assert capture['netconsole']['cmdline'] == '6665@10.77.0.22/eth1,6666@10.77.0.10/52:54:00:77:00:01'


def test_ignore_loglevel_satisfies_the_loglevel_check(host, run):
    host.set('proc/sys/kernel/printk', '4\t4\t1\t7\n')
    host.set('proc/cmdline', CMDLINE + ' ignore_loglevel\n')
    assert run(host.params())['problems'] == []


def test_requirements_can_be_dropped(host, run):
    host.remove('sys/module/netconsole')
    host.remove('sys/kernel/config/netconsole')
    capture = run(host.params(require_netconsole=False))
    assert capture['armed'] is True
    assert capture['netconsole']['loaded'] is False


def test_other_root_without_systemctl_uses_the_wants_link(host, run):
    params = host.params()
    del params['systemctl']
    capture = run(params)
    assert capture['kdump']['service'] == {'name': 'kdump-tools', 'state': 'unknown', 'enabled': 'enabled'}
    assert capture['armed'] is True


def test_redhat_host_with_ssh_target(host, run):
    host.remove('etc/default/kdump-tools')
    host.remove('usr/sbin/kdump-config')
    host.set('etc/kdump.conf', 'path /var/crash\nssh kdump@192.0.2.20\nsshkey /root/.ssh/kdump_id_rsa\n'
                               'core_collector makedumpfile -l --message-level 7 -d 31 -F\n')
    host.set('boot/initramfs-%skdump.img' % RELEASE, 'initramfs\n')
    write(host.units / 'kdump.is-active', 'active\n')
    capture = run(host.params())
    assert capture['kdump']['flavor'] == 'redhat'
    assert capture['kdump']['service']['name'] == 'kdump'
    assert capture['kdump']['target'] == {'type': 'ssh', 'location': 'kdump@192.0.2.20'}
    assert capture['dump_space_ok'] is None and capture['dumps'] == []
    assert capture['problems'] == []


def test_empty_tree_is_reasons_not_a_traceback(tmp_path, run):
    root = tmp_path / 'empty'
    root.mkdir()
    capture = run({'root': str(root)})
    assert capture['armed'] is False
    assert capture['kernel_release'] is None
    assert capture['problems'] == [
        'kdump is not installed (neither /etc/default/kdump-tools nor /etc/kdump.conf exists)',
        'no crashkernel reserved (crashkernel= missing from /proc/cmdline)',
        'crash kernel not loaded (/sys/kernel/kexec_crash_loaded is missing: a kernel without kexec support?)',
        'netconsole module not loaded (/sys/module/netconsole is missing)',
        'no enabled netconsole target (nothing in /sys/kernel/config/netconsole and no netconsole= on /proc/cmdline)',
        'console loglevel unknown (/proc/sys/kernel/printk is missing or unreadable)',
    ]


# ------------------------------------------------------------------------------- not armed: one reason each

def test_no_crashkernel_on_the_command_line(host, run):
    host.set('proc/cmdline', CMDLINE.replace(' crashkernel=256M', '') + '\n')
    host.set('sys/kernel/kexec_crash_size', '0\n')
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    host.set('proc/iomem', IOMEM.replace('  2e000000-3dffffff : Crash kernel\n', ''))
    capture = run(host.params())
    assert capture['crashkernel'] is None
    assert capture['problems'] == ['no crashkernel reserved (crashkernel= missing from /proc/cmdline)', NOT_LOADED]


def test_crashkernel_range_reserved_nothing(host, run):
    host.set('proc/cmdline', CMDLINE.replace('crashkernel=256M', 'crashkernel=4G-:512M') + '\n')
    host.set('sys/kernel/kexec_crash_size', '0\n')
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    capture = run(host.params())
    assert capture['problems'] == [
        'crashkernel=4G-:512M is on /proc/cmdline but no memory is reserved (/sys/kernel/kexec_crash_size is 0): '
        'no range matches this RAM size, or the reservation failed (see dmesg)',
        NOT_LOADED]


def test_crashkernel_with_invalid_syntax(host, run):
    host.set('proc/cmdline', CMDLINE.replace('crashkernel=256M', 'crashkernel=no') + '\n')
    host.set('sys/kernel/kexec_crash_size', '0\n')
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    problems = run(host.params())['problems']
    assert problems[0].startswith("crashkernel=no on /proc/cmdline is not valid: invalid size 'no'")
    assert problems[1:] == [NOT_LOADED]


def test_no_crash_kernel_range_in_iomem(host, run):
    host.set('proc/iomem', IOMEM.replace('  2e000000-3dffffff : Crash kernel\n', ''))
    assert run(host.params())['problems'] == [
        '/proc/iomem has no "Crash kernel" range although /sys/kernel/kexec_crash_size is 268435456']


def test_crash_kernel_not_loaded(host, run):
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    capture = run(host.params())
    assert capture['crash_loaded'] is False
    assert capture['problems'] == [NOT_LOADED]


def test_kernel_without_kexec(host, run):
    host.remove('sys/kernel/kexec_crash_loaded')
    assert run(host.params())['problems'] == [
        'crash kernel not loaded (/sys/kernel/kexec_crash_loaded is missing: a kernel without kexec support?)']


def test_kdump_not_installed(host, run):
    for path in ('etc/default/kdump-tools', 'usr/sbin/kdump-config', 'var/lib/kdump',
                 'etc/systemd/system/multi-user.target.wants/kdump-tools.service'):
        host.remove(path)
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    capture = run(host.params())
    assert capture['kdump']['flavor'] is None and capture['kdump']['service']['name'] is None
    assert capture['problems'] == [
        'kdump is not installed (neither /etc/default/kdump-tools nor /etc/kdump.conf exists)', NOT_LOADED]


def test_kdump_disabled_in_config(host, run):
    host.set('etc/default/kdump-tools', KDUMP_TOOLS.replace('USE_KDUMP=1', 'USE_KDUMP=0'))
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    capture = run(host.params())
    assert capture['kdump']['enabled'] is False
    assert capture['problems'] == [
        'kdump is disabled: USE_KDUMP=0 in /etc/default/kdump-tools (kdump-tools loads nothing unless it is 1)',
        NOT_LOADED]


def test_kdump_service_not_active(host, run):
    host.service('failed')
    host.set('sys/kernel/kexec_crash_loaded', '0\n')
    capture = run(host.params())
    assert capture['kdump']['service']['state'] == 'failed'
    assert capture['problems'] == [NOT_LOADED, 'kdump service kdump-tools is not active (failed)']


def test_kdump_service_not_enabled_in_an_image(host, run):
    host.remove('etc/systemd/system/multi-user.target.wants/kdump-tools.service')
    params = host.params()
    del params['systemctl']
    assert run(params)['problems'] == [
        'kdump service kdump-tools is not enabled in %s (no .wants link), and its state is not asked under a root '
        'other than /' % host.root]


def test_kdump_initrd_missing(host, run):
    host.remove('var/lib/kdump/initrd.img-%s' % RELEASE)
    assert run(host.params())['problems'] == [
        'kdump initrd /var/lib/kdump/initrd.img-%s for the running kernel is missing (the kdump service builds it '
        'when it starts)' % RELEASE]


def test_dump_directory_short_of_space(host, run):
    host.dump_free = 12 * MiB
    capture = run(host.params())
    assert capture['dump_space_ok'] is False
    assert capture['problems'] == [
        'dump directory /var/crash has 12.0 MiB free, needs ~85.1 MiB (5% of 1.7 GiB RAM, at least 64 MiB)']


def test_dump_space_floor_applies_to_small_hosts(host, run):
    host.set('proc/meminfo', 'MemTotal:         524288 kB\n')
    host.dump_free = 40 * MiB
    assert run(host.params())['problems'] == [
        'dump directory /var/crash has 40.0 MiB free, needs ~64.0 MiB (5% of 512.0 MiB RAM, at least 64 MiB)']


DPKG_MAKEDUMPFILE = ('Package: kdump-tools\nStatus: install ok installed\nVersion: 1:1.10.7\n\n'
                     'Package: makedumpfile\nStatus: install ok installed\nArchitecture: amd64\n'
                     'Version: 1:{version}-1\n\n')


@pytest.mark.parametrize('release, version, excludes, percent', [
    ('6.12.118+deb13-amd64', '1.7.6', False, 50.0),   # Debian 13 as released: free pages kept
    ('6.12.118+deb13-amd64', '1.7.7', True, 5.0),
    ('6.13.2-amd64', '1.7.10', True, 5.0),
    ('6.1.0-56-amd64', '1.7.2', True, 5.0),           # Debian 12: before the 6.12 change
    ('6.12.118+deb13-amd64', None, None, 5.0),        # makedumpfile not installed: unknown
])
def test_dump_space_estimate_follows_makedumpfile_and_the_kernel(host, run, release, version, excludes, percent):
    host.set('proc/sys/kernel/osrelease', release + '\n')
    if version:
        host.set('var/lib/dpkg/status', DPKG_MAKEDUMPFILE.format(version=version))
    host.dump_free = 500 * MiB  # enough for 5% of 1.7 GiB, not for 50%
    result = run(host.params(require_netconsole=False), whole=True)
    capture = result['capture']
    assert capture['makedumpfile'] == {'version': version, 'excludes_free_pages': excludes}
    assert capture['dump_space_percent'] == percent
    assert capture['dump_space_needed_bytes'] == int(MEMTOTAL_KB * 1024 * percent / 100)
    space = [p for p in capture['problems'] if p.startswith('dump directory')]
    warnings = [w for w in warnings_of(result) if 'makedumpfile' in w]
    if excludes is False:
        assert space == ['dump directory /var/crash has 500.0 MiB free, needs ~850.6 MiB (50% of 1.7 GiB RAM, '
                         'at least 64 MiB)']
        assert warnings and 'makedumpfile 1.7.6 does not recognise free pages on kernel %s' % release in warnings[0]
        assert 'install makedumpfile 1.7.7 or later' in warnings[0]
    else:
        assert space == [] and warnings == []


def test_netconsole_module_not_loaded(host, run):
    host.remove('sys/module/netconsole')
    host.remove('sys/kernel/config/netconsole')
    assert run(host.params())['problems'] == [
        'netconsole module not loaded (/sys/module/netconsole is missing)',
        'no enabled netconsole target (nothing in /sys/kernel/config/netconsole and no netconsole= on /proc/cmdline)']


def test_no_enabled_netconsole_target(host, run):
    host.set('sys/kernel/config/netconsole/lab/enabled', '0\n')
    capture = run(host.params())
    assert capture['netconsole']['enabled_targets'] == 0
    assert capture['problems'] == [
        'no enabled netconsole target (lab in /sys/kernel/config/netconsole, all with enabled=0)']


def test_console_loglevel_too_low(host, run):
    host.set('proc/sys/kernel/printk', '4\t4\t1\t7\n')
    assert run(host.params())['problems'] == [
        'console loglevel 4 only sends err and worse (levels below 4); oops traces need at least 5 '
        '(sysctl kernel.printk or dmesg -n 8)']


def test_console_loglevel_minimum_is_configurable(host, run):
    host.set('proc/sys/kernel/printk', '7\t4\t1\t7\n')
    assert run(host.params())['problems'] == []
    assert run(host.params(min_console_loglevel=8))['problems'] == [
        'console loglevel 7 only sends info and worse (levels below 7); oops traces need at least 8 '
        '(sysctl kernel.printk or dmesg -n 8)']


# ------------------------------------------------------------------------------------------ boot id, canary

def test_boot_id_and_uptime_are_reported(host, run):
    host.set('proc/sys/kernel/random/boot_id', '0f1c6c1e-6d0a-4bd4-9a8f-3b1e2a4c5d6e\n')
    host.set('proc/uptime', '123.45 200.10\n')
    capture = run(host.params())
    assert capture['boot_id'] == '0f1c6c1e-6d0a-4bd4-9a8f-3b1e2a4c5d6e'
    assert capture['uptime_seconds'] == 123.45
    assert capture['canary'] is None


def test_boot_id_missing_is_null(host, run):
    capture = run(host.params())
    assert capture['boot_id'] is None
    assert capture['uptime_seconds'] is None


@pytest.mark.parametrize('check', [False, True])
def test_canary_is_one_kmsg_record_even_in_check_mode(host, run, check):
    host.set('dev/kmsg', '')
    before = time.time()
    capture = run(host.params(canary='readiness host1 1795642801'), check=check)
    assert capture['canary']['written'] is True
    assert capture['canary']['error'] is None
    assert capture['canary']['text'] == 'lastwords: readiness host1 1795642801'
    assert before <= capture['canary']['epoch'] <= time.time()
    with open(str(host.root / 'dev/kmsg')) as handle:
        assert handle.read() == '<4>lastwords: readiness host1 1795642801\n'
    assert capture['armed'] is True


@pytest.mark.skipif(not os.access('/dev/kmsg', os.W_OK), reason='needs a writable /dev/kmsg (root)')
def test_canary_reaches_a_real_kernel_log(host, run):
    # the real /dev/kmsg refuses the seek that Python's append mode does (EINVAL): the first lab run found it
    (host.root / 'dev').mkdir()
    (host.root / 'dev/kmsg').symlink_to('/dev/kmsg')
    capture = run(host.params(canary='unit test of capture_facts, please ignore'))
    assert capture['canary']['error'] is None
    assert capture['canary']['written'] is True


def test_canary_that_cannot_be_written_is_reported_not_fatal(host, run):
    capture = run(host.params(canary='token'))  # the tree has no dev/ directory
    assert capture['canary']['written'] is False
    assert 'No such file' in capture['canary']['error']


@pytest.mark.parametrize('canary', ['', 'two\nlines', 'x' * 201, 'caf\u00e9'])
def test_bad_canary_fails_naming_the_option(host, capsys, canary):
    args = dict(host.params(canary=canary))
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            capture_facts.main()
    result = json.loads(capsys.readouterr().out)
    assert result['failed'] is True
    assert result['msg'].startswith('canary must be')


# ------------------------------------------------------------------------------------------------- pstore

def test_pstore_none_on_a_bios_host(host, run):
    write(host.root / 'sys/module/pstore/parameters/backend', '(null)\n')
    pstore = run(host.params())['pstore']
    assert pstore['backend'] is None and pstore['efi'] is False
    assert pstore['records'] == [] and pstore['archived'] == []
    assert pstore['crash_kexec_post_notifiers'] is False


def test_pstore_efi_records_and_what_systemd_pstore_archived(host, run):
    # a UEFI host after a panic: efi_pstore registered, systemd-pstore moved the record to its archive at boot
    write(host.root / 'sys/module/pstore/parameters/backend', 'efi_pstore\n')
    write(host.root / 'sys/firmware/efi/efivars/LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f', 'x')
    write(host.root / 'sys/fs/pstore/dmesg-efi_pstore-173311020000001', '<6>[ 12.0] Oops#1 Part1\n')
    write(host.root / 'var/lib/systemd/pstore/173311010000001/dmesg.txt', 'Kernel panic - not syncing: sysrq\n')
    write(host.root / 'sys/module/kernel/parameters/crash_kexec_post_notifiers', 'Y\n')
    write(host.units / 'systemd-pstore.is-enabled', 'enabled\n')
    pstore = run(host.params())['pstore']
    assert pstore['backend'] == 'efi_pstore' and pstore['efi'] is True
    assert pstore['records'] == ['dmesg-efi_pstore-173311020000001']
    (record,) = pstore['archived']
    assert record['name'] == '173311010000001' and record['files'] == ['dmesg.txt'] and record['has_dmesg']
    assert record['size_bytes'] == len('Kernel panic - not syncing: sysrq\n')
    assert record['path'] == '/var/lib/systemd/pstore/173311010000001'
    assert pstore['service']['enabled'] == 'enabled' and pstore['crash_kexec_post_notifiers'] is True


def test_pstore_records_as_systemd_257_archives_them(host, run):
    """Recorded on the sdboot lab (Debian 13, systemd 257, OVMF): a sysrq panic with kdump unloaded, its log
    written by efi_pstore over a second's boundary, archived at the next boot as <time stamp>/<count>/."""
    write(host.root / 'sys/module/pstore/parameters/backend', 'efi_pstore\n')
    (host.root / 'sys/fs/pstore').mkdir(parents=True, exist_ok=True)
    for stamp, part in (('1796297572', '01'), ('1796297573', '02')):
        write(host.root / 'var/lib/systemd/pstore' / stamp / '001' / ('dmesg-efi_pstore-%s%s001' % (stamp, part)),
              'Panic#1 Part%d\n<0>[ 118.6] Kernel panic - not syncing: sysrq triggered crash\n' % int(part))
        write(host.root / 'var/lib/systemd/pstore' / stamp / '001' / 'dmesg.txt',
              'Panic#1 Part%d\n<0>[ 118.6] Kernel panic - not syncing: sysrq triggered crash\n' % int(part))
    pstore = run(host.params())['pstore']
    assert [record['name'] for record in pstore['archived']] == ['1796297572-001', '1796297573-001']
    first = pstore['archived'][0]
    assert first['path'] == '/var/lib/systemd/pstore/1796297572/001' and first['has_dmesg'] is True
    assert sorted(first['files']) == ['dmesg-efi_pstore-179629757201001', 'dmesg.txt']
