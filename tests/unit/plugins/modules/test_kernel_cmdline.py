"""kernel_cmdline end to end on temporary trees.

grub-debian runs a stand-in grub-mkconfig: a small /bin/sh script that, like the real one, sources
<root>/etc/default/grub and then <root>/etc/default/grub.d/*.cfg under `set -e` and writes kernel entries from
GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT, so the drop-in's shell code really runs. grubby is a small
Python stand-in that keeps boot entries in a JSON file and records every call.
"""

import json
import os
import sys
import textwrap

import pytest
from module_results import module_runner, warnings_of

from ansible_collections.lastwords.panic.plugins.modules import kernel_cmdline

DROPIN = '/etc/default/grub.d/zz-lastwords.cfg'
RUNNING = ('BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID=4f1c2e0a-9b7d-4c59-8f3e-2a6d1b0c9e55 ro '
           'console=ttyS0 net.ifnames=0 quiet crashkernel=384M-:128M')
OLD_GRUB_CFG = "# generated before the test\nmenuentry 'Debian GNU/Linux' {\n\tlinux\t/boot/vmlinuz ro quiet\n}\n"

FAKE_GRUB_MKCONFIG = """\
#!/bin/sh
# Stand-in for grub-mkconfig on a test tree: same sourcing order and `set -e` as the real tool.
set -e
sysconfdir='{etc}'
[ "$1" = -o ] && [ -n "$2" ] || {{ echo "usage: grub-mkconfig -o FILE" >&2; exit 2; }}
echo "$*" >> '{log}'
if [ -f "$sysconfdir/default/grub" ]; then
  . "$sysconfdir/default/grub"
fi
for cfg in "$sysconfdir"/default/grub.d/*.cfg; do
  if [ -e "$cfg" ]; then
    . "$cfg"
  fi
done
{{
  printf '### BEGIN /etc/grub.d/10_linux ###\\n'
  printf "menuentry 'Debian GNU/Linux' {{\\n\\tlinux\\t/boot/vmlinuz-6.1.0-27-amd64 root=/dev/vda1 ro %s %s\\n}}\\n" \\
    "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"
  printf "menuentry 'Debian GNU/Linux (recovery mode)' {{\\n\\tlinux\\t%s root=/dev/vda1 ro single %s\\n}}\\n" \\
    /boot/vmlinuz-6.1.0-27-amd64 "$GRUB_CMDLINE_LINUX"
}} > "$2.new"
mv -f "$2.new" "$2"
"""

FAKE_GRUBBY = """\
#!{python}
# Stand-in for grubby: boot entries in a JSON file, every call appended to a log.
import json, sys
STATE, LOG = {state!r}, {log!r}
with open(LOG, 'a') as log:
    log.write(json.dumps(sys.argv[1:]) + '\\n')
with open(STATE) as handle:
    entries = json.load(handle)
argv = sys.argv[1:]
if argv == ['--info=ALL']:
    for index, entry in enumerate(entries):
        print('index=%d' % index)
        print('kernel="%s"' % entry['kernel'])
        print('args="%s"' % entry['args'])
        print('root="/dev/mapper/rhel-root"')
        print('title="Red Hat Enterprise Linux (%s)"' % entry['kernel'][14:])
    sys.exit(0)
if not argv or argv[0] != '--update-kernel=ALL':
    sys.stderr.write('fake grubby: unsupported call %r\\n' % argv)
    sys.exit(2)
for option in argv[1:]:
    key, _, value = option.partition('=')
    for entry in entries:
        words = entry['args'].split()
        names = [w.split('=', 1)[0] for w in value.split()]
        if key == '--remove-args':
            words = [w for w in words if w.split('=', 1)[0] not in names]
        elif key == '--args':
            words = [w for w in words if w.split('=', 1)[0] not in names] + value.split()
        entry['args'] = ' '.join(words)
with open(STATE, 'w') as handle:
    json.dump(entries, handle)
"""


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), 'w') as handle:
        handle.write(text)
    if mode is not None:
        os.chmod(str(path), mode)


def read(path):
    with open(str(path)) as handle:
        return handle.read()


def linux_lines(grub_cfg):
    return [line.strip() for line in read(grub_cfg).splitlines() if line.strip().startswith('linux')]


class Host(object):
    """A Debian 12 host with kdump-tools installed, as a directory tree."""

    def __init__(self, base):
        self.base = base
        self.root = base / 'root'
        self.log = base / 'grub-mkconfig.log'
        self.mkconfig = base / 'bin' / 'grub-mkconfig'
        write(self.root / 'etc/default/grub', textwrap.dedent("""\
            # If you change this file, run 'update-grub' afterwards to update
            # /boot/grub/grub.cfg.
            GRUB_DEFAULT=0
            GRUB_TIMEOUT=1
            GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
            GRUB_CMDLINE_LINUX_DEFAULT="quiet"
            GRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0"
            """))
        write(self.root / 'etc/default/grub.d/kdump-tools.cfg',
              'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n')
        write(self.root / 'proc/cmdline', RUNNING + '\n')
        write(self.root / 'proc/meminfo', 'MemTotal:        1742124 kB\nMemFree:          982312 kB\n')
        write(self.root / 'sys/kernel/kexec_crash_size', '134217728\n')
        write(self.root / 'boot/grub/grub.cfg', OLD_GRUB_CFG)
        write(self.mkconfig, FAKE_GRUB_MKCONFIG.format(etc=self.root / 'etc', log=self.log), 0o755)

    @property
    def dropin(self):
        return self.root / DROPIN.lstrip('/')

    @property
    def grub_cfg(self):
        return self.root / 'boot/grub/grub.cfg'

    @property
    def marker(self):
        return self.root / 'run/lastwords/reboot-required'

    def mkconfig_calls(self):
        return len(read(self.log).splitlines()) if self.log.exists() else 0

    def params(self, **kwargs):
        params = {'root': str(self.root), 'grub_mkconfig': str(self.mkconfig), 'bootloader': 'grub-debian'}
        params.update(kwargs)
        return params


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


@pytest.fixture
def run(capsys):
    return module_runner(kernel_cmdline.main, capsys)


# ------------------------------------------------------------------------------------------------ grub-debian

def test_sets_crashkernel_over_kdump_tools_default(host, run):
    result = run(host.params(args={'crashkernel': '256M'}))
    assert result['changed'] is True
    assert result['grub_cfg_updated'] is True
    assert result['dropin'] == DROPIN
    assert result['managed'] == {'args': {'crashkernel': ['256M']}, 'absent': []}
    normal, recovery = linux_lines(host.grub_cfg)
    assert normal.endswith('ro console=ttyS0 net.ifnames=0 crashkernel=256M quiet')
    assert 'crashkernel=384M' not in normal
    assert recovery.endswith('single console=ttyS0 net.ifnames=0 crashkernel=256M')
    assert result['other_sources'] == [{'path': '/etc/default/grub.d/kdump-tools.cfg', 'names': ['crashkernel'],
                                        'after_dropin': False}]
    assert result['reboot_required'] is True
    assert result['pending'] == ['crashkernel=256M (now crashkernel=384M-:128M)']
    assert result['cmdline'] == RUNNING
    assert 'crashkernel=256M' in result['args'] and 'crashkernel=384M-:128M' not in result['args']
    assert read(host.marker) == ('lastwords.panic.kernel_cmdline[crashkernel]: '
                                 'crashkernel=256M (now crashkernel=384M-:128M)\n')
    assert not os.path.exists(str(host.grub_cfg) + '.new')


def test_second_run_is_unchanged(host, run):
    run(host.params(args={'crashkernel': '256M'}))
    dropin_before = read(host.dropin)
    result = run(host.params(args={'crashkernel': '256M'}))
    assert result['changed'] is False
    assert result['grub_cfg_updated'] is False
    assert host.mkconfig_calls() == 1
    assert read(host.dropin) == dropin_before
    assert result['reboot_required'] is True  # still not booted with it


def test_check_mode_writes_nothing_and_shows_diff(host, run):
    result = run(host.params(args={'crashkernel': '256M'}), check=True, diff=True)
    assert result['changed'] is True
    assert result['diff']['before'] == ''
    assert "LASTWORDS_CMDLINE_ARGS='crashkernel=256M'" in result['diff']['after']
    assert result['reboot_required'] is True
    assert not host.dropin.exists()
    assert read(host.grub_cfg) == OLD_GRUB_CFG
    assert host.mkconfig_calls() == 0
    assert not host.marker.exists()


def test_diff_shows_previous_dropin_text(host, run):
    run(host.params(args={'crashkernel': '256M'}))
    result = run(host.params(args={'crashkernel': '512M'}), diff=True)
    assert "'crashkernel=256M'" in result['diff']['before']
    assert "'crashkernel=512M'" in result['diff']['after']


def test_removes_a_bare_flag_set_elsewhere(host, run):
    result = run(host.params(remove=['quiet']))
    assert result['changed'] is True
    normal = linux_lines(host.grub_cfg)[0]
    assert normal.endswith('ro console=ttyS0 net.ifnames=0 crashkernel=384M-:128M')
    assert result['pending'] == ['no quiet (now quiet)']


def test_state_absent_removes_kdump_tools_crashkernel(host, run):
    result = run(host.params(args={'crashkernel': None}, state='absent'))
    assert result['managed'] == {'args': {}, 'absent': ['crashkernel']}
    assert all('crashkernel' not in line for line in linux_lines(host.grub_cfg))
    assert 'crashkernel=384M-:128M' not in result['args']
    assert result['reboot_required'] is True


def test_calls_merge_into_one_dropin(host, run):
    run(host.params(args={'crashkernel': '256M'}))
    result = run(host.params(args={'netconsole': '+6665@10.0.3.11/eth1,6666@10.0.3.1/52:54:00:aa:bb:01'}))
    assert result['changed'] is True
    assert list(result['managed']['args']) == ['crashkernel', 'netconsole']
    normal = linux_lines(host.grub_cfg)[0]
    assert 'crashkernel=256M netconsole=+6665@10.0.3.11/eth1,6666@10.0.3.1/52:54:00:aa:bb:01' in normal
    # then the first one is taken away again: it moves to the removed names, the second stays
    result = run(host.params(args={'crashkernel': None}, state='absent'))
    assert result['managed'] == {
        'args': {'netconsole': ['+6665@10.0.3.11/eth1,6666@10.0.3.1/52:54:00:aa:bb:01']},
        'absent': ['crashkernel']}


def test_value_with_spaces_is_quoted_for_the_kernel(host, run):
    run(host.params(args={'dyndbg': 'file drivers/net/netconsole.c +p'}))
    assert 'dyndbg="file drivers/net/netconsole.c +p"' in linux_lines(host.grub_cfg)[0]


def test_repeated_argument_from_a_list(host, run):
    result = run(host.params(args={'console': ['tty0', 'ttyS0,115200']}))
    assert 'ro net.ifnames=0 console=tty0 console=ttyS0,115200 quiet' in linux_lines(host.grub_cfg)[0]
    assert result['pending'] == ['console=tty0 console=ttyS0,115200 (now console=ttyS0)']


def test_grub_mkconfig_failure_restores_previous_dropin(host, run):
    run(host.params(args={'crashkernel': '256M'}))
    dropin_before = read(host.dropin)
    grub_cfg_before = read(host.grub_cfg)
    write(host.root / 'etc/default/grub.d/50-broken.cfg', 'GRUB_CMDLINE_LINUX="unterminated\n')
    result = run(host.params(args={'crashkernel': '512M'}))
    assert result['failed'] is True
    assert 'grub-mkconfig exited with 2' in result['msg']
    assert 'was restored' in result['msg']
    assert '50-broken.cfg' in result['stderr']
    assert read(host.dropin) == dropin_before
    assert read(host.grub_cfg) == grub_cfg_before
    assert not os.path.exists(str(host.grub_cfg) + '.new')


def test_grub_mkconfig_failure_on_first_write_leaves_no_dropin(host, run):
    write(host.mkconfig, '#!/bin/sh\necho "grub-probe: error: failed to get canonical path of overlay." >&2\n'
                         'exit 1\n', 0o755)
    result = run(host.params(args={'crashkernel': '256M'}))
    assert result['failed'] is True
    assert 'failed to get canonical path' in result['msg']
    assert not host.dropin.exists()
    assert read(host.grub_cfg) == OLD_GRUB_CFG
    assert not host.marker.exists()


def test_no_reboot_required_when_running_kernel_matches(host, run):
    write(host.root / 'proc/cmdline', 'BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=/dev/vda1 ro console=ttyS0 '
                                      'net.ifnames=0 quiet crashkernel=256M\n')
    write(host.marker, 'lastwords.panic.kernel_cmdline[crashkernel]: crashkernel=256M (now absent)\n'
                       'lastwords.panic.netconsole_target: persist target lab\n')
    result = run(host.params(args={'crashkernel': '256M'}))
    assert result['changed'] is True  # the drop-in is new even though the running kernel already has it
    assert result['reboot_required'] is False
    assert result['pending'] == []
    assert read(host.marker) == 'lastwords.panic.netconsole_target: persist target lab\n'


def test_update_false_then_true_regenerates_stale_grub_cfg(host, run):
    result = run(host.params(args={'crashkernel': '256M'}, update=False))
    assert result['changed'] is True and result['grub_cfg_updated'] is False
    assert read(host.grub_cfg) == OLD_GRUB_CFG
    os.utime(str(host.grub_cfg), (1, 1))  # older than the drop-in
    result = run(host.params(args={'crashkernel': '256M'}))
    assert result['changed'] is True and result['grub_cfg_updated'] is True
    assert 'crashkernel=256M' in linux_lines(host.grub_cfg)[0]
    assert run(host.params(args={'crashkernel': '256M'}))['changed'] is False


def test_warns_about_a_file_read_after_the_dropin(host, run):
    write(host.root / 'etc/default/grub.d/zzz-local.cfg',
          'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=1G"\n')
    result = run(host.params(args={'crashkernel': '256M'}))
    late = [source for source in result['other_sources'] if source['after_dropin']]
    assert late == [{'path': '/etc/default/grub.d/zzz-local.cfg', 'names': ['crashkernel'], 'after_dropin': True}]
    assert any('zzz-local.cfg is read after' in warning for warning in warnings_of(result))
    assert any('no kernel entry in the regenerated' in warning for warning in warnings_of(result))


def test_refuses_to_take_over_a_foreign_dropin(host, run):
    write(host.dropin, 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=1G"\n')
    result = run(host.params(args={'crashkernel': '256M'}))
    assert result['failed'] is True
    assert 'was not written by this module' in result['msg']
    assert read(host.dropin) == 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=1G"\n'


@pytest.mark.parametrize('args, fragment', [
    ({'crashkernel': '256X'}, 'args.crashkernel: invalid size'),
    ({'crashkernel': None}, 'args.crashkernel: needs a size'),
    ({'foo': 'a"b'}, 'args.foo: value of foo=a"b contains'),
    ({'nosmt': True}, 'args.nosmt: got a boolean'),
    ({'log-buf-len': '1M', 'log_buf_len': '2M'}, 'name the same kernel parameter'),
])
def test_invalid_args_fail_before_writing(host, run, args, fragment):
    result = run(host.params(args=args))
    assert result['failed'] is True
    assert fragment in result['msg']
    assert not host.dropin.exists()


def test_same_name_in_args_and_remove_fails(host, run):
    result = run(host.params(args={'quiet': None}, remove=['quiet']))
    assert result['failed'] is True and 'both in args and in remove' in result['msg']


def test_other_root_needs_explicit_grub_mkconfig(host, run):
    params = host.params(args={'crashkernel': '256M'})
    del params['grub_mkconfig']
    result = run(params)
    assert result['failed'] is True
    assert 'set update: false' in result['msg']
    assert not host.dropin.exists()


def test_crashkernel_that_reserves_nothing_warns(host, run):
    result = run(host.params(args={'crashkernel': '4G-:512M'}, update=False))
    assert any('reserves nothing on this host' in warning for warning in warnings_of(result))


# ------------------------------------------------------------------------------------------------------ grubby

class RhelHost(object):
    def __init__(self, base):
        self.root = base / 'root'
        self.state = base / 'grubby.json'
        self.log = base / 'grubby.log'
        self.grubby = base / 'bin' / 'grubby'
        write(self.root / 'usr/sbin/grubby', '')  # what bootloader=auto looks for
        write(self.root / 'proc/cmdline', 'BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-503.el9.x86_64 '
                                          'root=/dev/mapper/rhel-root ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M '
                                          'rhgb quiet\n')
        entries = [
            {'kernel': '/boot/vmlinuz-5.14.0-503.el9.x86_64',
             'args': 'ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rhgb quiet'},
            {'kernel': '/boot/vmlinuz-5.14.0-427.el9.x86_64',
             'args': 'ro crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rhgb quiet'},
        ]
        write(self.state, json.dumps(entries))
        write(self.grubby, FAKE_GRUBBY.format(python=sys.executable, state=str(self.state), log=str(self.log)),
              0o755)

    def calls(self):
        return [json.loads(line) for line in read(self.log).splitlines()] if self.log.exists() else []

    def entries(self):
        return json.loads(read(self.state))

    def params(self, **kwargs):
        params = {'root': str(self.root), 'grubby': str(self.grubby)}
        params.update(kwargs)
        return params


@pytest.fixture
def rhel(tmp_path):
    return RhelHost(tmp_path)


def test_grubby_updates_all_entries(rhel, run):
    result = run(rhel.params(args={'crashkernel': '512M'}, remove=['rhgb', 'quiet']))
    assert result['bootloader'] == 'grubby'
    assert result['changed'] is True
    update = [call for call in rhel.calls() if call[0] == '--update-kernel=ALL']
    assert update == [['--update-kernel=ALL', '--args=crashkernel=512M', '--remove-args=rhgb quiet']]
    for entry in rhel.entries():
        assert entry['args'] == 'ro resume=/dev/mapper/rhel-swap crashkernel=512M'
    assert result['reboot_required'] is True
    assert result['dropin'] is None


def test_grubby_second_run_is_unchanged(rhel, run):
    run(rhel.params(args={'crashkernel': '512M'}))
    calls_after_first = len(rhel.calls())
    result = run(rhel.params(args={'crashkernel': '512M'}))
    assert result['changed'] is False
    assert rhel.calls()[calls_after_first:] == [['--info=ALL']]


def test_grubby_check_mode_only_reads(rhel, run):
    before = rhel.entries()
    result = run(rhel.params(args={'crashkernel': '512M'}), check=True, diff=True)
    assert result['changed'] is True
    assert rhel.calls() == [['--info=ALL']]
    assert rhel.entries() == before
    assert 'crashkernel=512M' in result['diff']['after']
    assert 'crashkernel=512M' not in result['diff']['before']


def test_grubby_failure_reports_stderr(rhel, run):
    write(rhel.grubby, '#!/bin/sh\necho "grubby: The param /boot/vmlinuz-x is incorrect" >&2\nexit 1\n', 0o755)
    result = run(rhel.params(args={'crashkernel': '512M'}))
    assert result['failed'] is True
    assert result['msg'] == 'grubby --info=ALL failed: grubby: The param /boot/vmlinuz-x is incorrect'


def test_grubby_with_update_false_fails(rhel, run):
    result = run(rhel.params(args={'crashkernel': '512M'}, update=False))
    assert result['failed'] is True and 'update=false is only possible' in result['msg']
    assert rhel.calls() == []


def test_grubby_needs_explicit_path_under_other_root(rhel, run):
    params = rhel.params(args={'crashkernel': '512M'})
    del params['grubby']
    result = run(params)
    assert result['failed'] is True and "would edit the host's boot entries" in result['msg']


def test_grubby_hosts_get_no_dropin(rhel, run):
    result = run(rhel.params(args={'crashkernel': '512M'}))
    assert result['changed'] is True
    assert not (rhel.root / DROPIN.lstrip('/')).exists()


def test_a_run_with_nothing_to_set_or_remove_reports_what_it_manages(host, run):
    # how another role asks what the drop-in holds without reading the module's private file
    result = run(host.params())
    assert result['changed'] is False and not host.dropin.exists() and host.mkconfig_calls() == 0
    assert result['managed'] == {'args': {}, 'absent': []}
    run(host.params(args={'netconsole.netconsole': '6665@10.77.0.21/eth1,6666@10.77.0.10/52:54:00:77:00:01'}))
    dropin = read(host.dropin)
    result = run(host.params())
    assert result['changed'] is False and read(host.dropin) == dropin and host.mkconfig_calls() == 1
    assert list(result['managed']['args']) == ['netconsole.netconsole']
