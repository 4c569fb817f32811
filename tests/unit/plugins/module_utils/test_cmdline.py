"""Unit tests for plugins/module_utils/_cmdline.py (pure functions; the drop-in is also run by /bin/sh)."""

import shutil
import subprocess

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._cmdline import (
    crashkernel_size,
    describe_args,
    edit_cmdline,
    format_arg,
    format_size,
    grub_cmdline_names,
    last_value,
    parse_cmdline,
    parse_crashkernel,
    parse_shell_assignments,
    parse_size,
    pending_changes,
    read_grub_dropin,
    render_grub_dropin,
    shell_single_quote,
    shell_values,
    split_cmdline,
    validate_arg,
)

MiB = 1 << 20
GiB = 1 << 30

DEBIAN_CMDLINE = ('BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64 root=UUID=4f1c2e0a-9b7d-4c59-8f3e-2a6d1b0c9e55 ro '
                  'console=ttyS0 net.ifnames=0 quiet crashkernel=384M-:128M')


# ---------------------------------------------------------------------------------------------------- sizes

@pytest.mark.parametrize('text, expected', [
    ('0', 0),
    ('4096', 4096),
    ('512k', 512 << 10),
    ('256M', 256 * MiB),
    ('1G', GiB),
    ('2T', 2 << 40),
    ('0x1000', 4096),
    ('0x10M', 16 * MiB),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize('text', ['', 'M', '12X', '1.5G', '-1M', '256 M', None])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size():
    assert format_size(512) == '512 B'
    assert format_size(41 * MiB) == '41.0 MiB'
    assert format_size(2 * GiB) == '2.0 GiB'


# ---------------------------------------------------------------------------------------------- crashkernel

def test_crashkernel_plain_size():
    parsed = parse_crashkernel('256M')
    assert parsed['size'] == 256 * MiB
    assert parsed['ranges'] is None and parsed['offset'] is None and parsed['suffix'] is None
    assert crashkernel_size('256M', 64 * MiB) == 256 * MiB


def test_crashkernel_with_offset():
    parsed = parse_crashkernel('512M@16M')
    assert (parsed['size'], parsed['offset']) == (512 * MiB, 16 * MiB)


@pytest.mark.parametrize('value, suffix', [('256M,high', 'high'), ('128M,low', 'low'), ('1G,cma', 'cma')])
def test_crashkernel_suffixes(value, suffix):
    parsed = parse_crashkernel(value)
    assert parsed['suffix'] == suffix
    assert parsed['size'] == parse_size(value.split(',')[0])


def test_crashkernel_debian_default_range():
    parsed = parse_crashkernel('384M-:128M')
    assert parsed['ranges'] == [(384 * MiB, None, 128 * MiB)]
    assert crashkernel_size(parsed, 2 * GiB) == 128 * MiB
    assert crashkernel_size(parsed, 256 * MiB) == 0  # below the first range: nothing reserved


def test_crashkernel_rhel_ranges_end_is_exclusive():
    value = '1G-4G:192M,4G-64G:256M,64G-:512M'
    assert crashkernel_size(value, 2 * GiB) == 192 * MiB
    assert crashkernel_size(value, 4 * GiB) == 256 * MiB  # 4G belongs to the second range, not the first
    assert crashkernel_size(value, 64 * GiB) == 512 * MiB
    assert crashkernel_size(value, 512 * MiB) == 0


def test_crashkernel_ranges_with_offset():
    parsed = parse_crashkernel('512M-2G:64M,2G-:128M@16M')
    assert parsed['offset'] == 16 * MiB
    assert crashkernel_size(parsed, GiB) == 64 * MiB


def test_crashkernel_auto_has_no_computable_size():
    assert parse_crashkernel('auto')['auto'] is True
    assert crashkernel_size('auto', 8 * GiB) is None


@pytest.mark.parametrize('value, fragment', [
    ('', 'needs a value'),
    ('no', 'invalid size'),
    ('256X', 'invalid size'),
    ('1G-512M:64M', 'ends before it starts'),
    ('1G-:64M,2G-4G:128M', 'open-ended'),
    ('1G-4G:64M,2G-8G:128M', 'overlaps'),
    ('1G:64M', 'start-[end]:size'),
    ('1G-:64M,high', 'plain size'),
    ('256M@16M,high', '@offset'),
])
def test_crashkernel_rejects(value, fragment):
    with pytest.raises(ValueError) as exc:
        parse_crashkernel(value)
    assert fragment in str(exc.value)


# ------------------------------------------------------------------------------------------- command line

def test_split_keeps_quoted_values_together():
    assert split_cmdline('a  b="c d"\t"e=f g" h') == ['a', 'b="c d"', '"e=f g"', 'h']


def test_parse_cmdline_like_the_kernel():
    pairs = parse_cmdline('root=/dev/vda1 ro foo="a b" "bar=c d" "quiet" dyndbg="file x.c +p" -- single')
    assert pairs == [('root', '/dev/vda1'), ('ro', None), ('foo', 'a b'), ('bar', 'c d'), ('quiet', None),
                     ('dyndbg', 'file x.c +p')]


def test_last_value_uses_last_occurrence_and_dash_underscore_equivalence():
    pairs = parse_cmdline('crashkernel=384M-:128M log-buf-len=1M crashkernel=256M')
    assert last_value(pairs, 'crashkernel') == (True, '256M')
    assert last_value(pairs, 'log_buf_len') == (True, '1M')
    assert last_value(pairs, 'netconsole') == (False, None)


def test_format_arg_quotes_when_needed():
    assert format_arg('quiet') == 'quiet'
    assert format_arg('crashkernel', '256M') == 'crashkernel=256M'
    assert format_arg('foo', 'a b') == 'foo="a b"'
    assert format_arg('netconsole', 'a;b') == 'netconsole="a;b"'
    assert format_arg('empty', '') == 'empty=""'


@pytest.mark.parametrize('name, value', [
    ('', None), ('a b', None), ('a=b', None), ('"x"', None),
    ('foo', 'a"b'), ('foo', "it's"), ('foo', '$HOME'), ('foo', 'a`b`'), ('foo', 'a\\b'), ('foo', 'a\nb'),
])
def test_validate_arg_rejects_what_grub_cannot_carry(name, value):
    with pytest.raises(ValueError):
        validate_arg(name, value)


def test_edit_replaces_in_place_and_drops_duplicates():
    text = 'root=/dev/vda1 crashkernel=384M-:128M quiet crashkernel=1G'
    assert edit_cmdline(text, {'crashkernel': '256M'}) == 'root=/dev/vda1 crashkernel=256M quiet'


def test_edit_appends_new_before_double_dash_and_removes():
    text = 'root=/dev/vda1 quiet splash -- single'
    result = edit_cmdline(text, {'console': ['tty0', 'ttyS0,115200'], 'foo': 'a b'}, ['quiet', 'splash'])
    assert result == 'root=/dev/vda1 console=tty0 console=ttyS0,115200 foo="a b" -- single'


def test_edit_removes_quoted_argument_whole_and_matches_dash_underscore():
    text = 'a=1 foo="x y z" log-buf-len=1M b'
    assert edit_cmdline(text, None, ['foo', 'log_buf_len']) == 'a=1 b'


def test_edit_leaves_untouched_arguments_verbatim():
    text = 'BOOT_IMAGE=/vmlinuz "odd=a b" x=1'
    assert edit_cmdline(text, {'x': '2'}) == 'BOOT_IMAGE=/vmlinuz "odd=a b" x=2'


def test_pending_changes_against_running_cmdline():
    assert pending_changes(DEBIAN_CMDLINE, {'crashkernel': '384M-:128M', 'quiet': None}) == []
    changes = pending_changes(DEBIAN_CMDLINE, {'crashkernel': '256M', 'netconsole': '@/eth0,@10.0.2.2/'},
                              ['quiet'])
    assert changes == ['crashkernel=256M (now crashkernel=384M-:128M)',
                       'netconsole=@/eth0,@10.0.2.2/ (now absent)',
                       'no quiet (now quiet)']


def test_pending_changes_compares_repeated_arguments_in_order():
    running = 'console=ttyS0 console=tty0'
    assert pending_changes(running, {'console': ['ttyS0', 'tty0']}) == []
    assert pending_changes(running, {'console': ['tty0', 'ttyS0']}) != []


def test_describe_args():
    assert describe_args({'crashkernel': '256M'}, ['quiet']) == 'crashkernel=256M; without quiet'


# ----------------------------------------------------------------------------------------- shell parsing

KDUMP_TOOLS = '''\
# kdump-tools configuration
# USE_KDUMP - controls kdump will be configured
USE_KDUMP=1
KDUMP_COREDIR="/var/crash"
MAKEDUMP_ARGS="-c -d 31"
export KDUMP_FAIL_CMD='reboot -f'
KDUMP_CMDLINE_APPEND="irqpoll nr_cpus=1 \\"x\\" \\$y"
KDUMP_KERNEL=/var/lib/kdump/vmlinuz-$(uname -r)
  # a comment
if [ -n "$X" ]; then FOO=bar; fi
'''


def test_parse_shell_assignments_without_executing():
    found = parse_shell_assignments(KDUMP_TOOLS)
    names = [name for name, _value, _dynamic in found]
    assert names == ['USE_KDUMP', 'KDUMP_COREDIR', 'MAKEDUMP_ARGS', 'KDUMP_FAIL_CMD', 'KDUMP_CMDLINE_APPEND',
                     'KDUMP_KERNEL']
    values = shell_values(KDUMP_TOOLS)
    assert values['MAKEDUMP_ARGS'] == '-c -d 31'
    assert values['KDUMP_FAIL_CMD'] == 'reboot -f'
    assert values['KDUMP_CMDLINE_APPEND'] == 'irqpoll nr_cpus=1 "x" $y'
    dynamic = dict((name, flag) for name, _value, flag in found)
    assert dynamic['KDUMP_KERNEL'] is True and dynamic['KDUMP_CMDLINE_APPEND'] is False


def test_parse_shell_multiline_double_quotes():
    values = shell_values('GRUB_CMDLINE_LINUX="console=ttyS0\n  quiet"\nGRUB_TIMEOUT=1\n')
    assert values == {'GRUB_CMDLINE_LINUX': 'console=ttyS0\n  quiet', 'GRUB_TIMEOUT': '1'}


def test_parse_shell_unterminated_quote_raises():
    with pytest.raises(ValueError):
        parse_shell_assignments('A="oops\n')


def test_shell_single_quote_round_trips():
    assert shell_values('X=%s\n' % shell_single_quote("a 'b' $c")) == {'X': "a 'b' $c"}


def test_grub_cmdline_names_ignores_variable_references():
    text = 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n'
    assert grub_cmdline_names(text) == ['crashkernel']
    assert grub_cmdline_names('GRUB_TIMEOUT=5\n') == []


# ------------------------------------------------------------------------------------------------- drop-in

def test_dropin_round_trip():
    text = render_grub_dropin({'crashkernel': '256M', 'foo': 'a b', 'console': ['tty0', 'ttyS0,115200'],
                               'nosmt': None}, ['quiet'])
    set_args, absent = read_grub_dropin(text)
    assert dict(set_args) == {'crashkernel': ['256M'], 'foo': ['a b'], 'console': ['tty0', 'ttyS0,115200'],
                              'nosmt': [None]}
    assert absent == ['quiet']
    assert render_grub_dropin(set_args, absent) == text


def test_dropin_empty_state_renders_nothing():
    assert render_grub_dropin({}, []) is None


def test_read_grub_dropin_refuses_foreign_file():
    with pytest.raises(ValueError):
        read_grub_dropin('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=256M"\n')


def _source_like_grub_mkconfig(tmp_path, files):
    """Source default/grub then default/grub.d/*.cfg with /bin/sh -e, as grub-mkconfig does; return the vars."""
    etc = tmp_path / 'etc' / 'default'
    (etc / 'grub.d').mkdir(parents=True)
    for name, text in files.items():
        (etc / name).write_text(text)
    script = ('set -e; . "$1/grub"; for f in "$1"/grub.d/*.cfg; do if [ -e "$f" ]; then . "$f"; fi; done; '
              'printf "%s\\n%s\\n" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"; '
              'set | grep -c -e LASTWORDS -e __lw -e lastwords_ || true')
    proc = subprocess.run(['/bin/sh', '-c', script, 'sh', str(etc)], capture_output=True, text=True, check=True,
                          env={'PATH': '/usr/bin:/bin', 'LC_ALL': 'C'})
    linux, default, leaked = proc.stdout.split('\n')[:3]
    return linux, default, int(leaked)


@pytest.mark.skipif(shutil.which('sh') is None, reason='needs /bin/sh')
def test_dropin_replaces_kdump_tools_crashkernel_under_sh(tmp_path):
    dropin = render_grub_dropin({'crashkernel': '256M', 'foo': 'a b'}, ['quiet', 'log_buf_len'])
    linux, default, leaked = _source_like_grub_mkconfig(tmp_path, {
        'grub': ('GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
                 'GRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0 foo=\\"x y\\" log-buf-len=1M \\"quiet\\""\n'),
        'grub.d/kdump-tools.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n',
        'grub.d/zz-lastwords.cfg': dropin,
    })
    assert linux == 'console=ttyS0 net.ifnames=0 crashkernel=256M foo="a b"'
    assert default == ''
    assert leaked == 0  # helper function and variables are unset again


@pytest.mark.skipif(shutil.which('sh') is None, reason='needs /bin/sh')
def test_dropin_removal_only_keeps_other_arguments(tmp_path):
    dropin = render_grub_dropin({}, ['crashkernel'])
    linux, default, _leaked = _source_like_grub_mkconfig(tmp_path, {
        'grub': 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0 crashkernel=1G"\n',
        'grub.d/kdump-tools.cfg': 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=384M-:128M"\n',
        'grub.d/zz-lastwords.cfg': dropin,
    })
    assert (linux, default) == ('console=ttyS0', 'quiet')
