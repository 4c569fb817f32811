# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel releases, GRUB menus and the GRUB environment block for lastwords.panic (private).

Pure functions: no I/O, no Ansible imports, Python 3.6+ standard library only, so unit tests call them directly.

* A kernel release is what ``uname -r`` prints: ``6.1.0-47-amd64`` (Debian 12), ``6.12.118+deb13-amd64``
  (Debian 13), ``6.8.0-45-generic`` (Ubuntu), ``5.14.0-427.13.1.el9_4.x86_64`` (RHEL family). Debian and Ubuntu
  name the flavour after the version (``amd64``, ``cloud-amd64``, ``rt-amd64``, ``generic``); the RHEL family
  ends the release with the architecture (``.x86_64``).
* Releases are ordered as dpkg orders versions (``~`` before anything, digits numerically); RHEL-family releases
  as rpm does (a number segment is newer than a letter segment: ``427.13.1.el9_4`` after ``427.el9``).
* GRUB's ``grub.cfg`` is read the way ``grub-mkconfig`` writes it: ``menuentry``/``submenu`` lines with a title
  in single quotes and an optional ``$menuentry_id_option 'id'``, bodies closed by a ``}`` line. A default or a
  one-time entry is named by ids joined with ``>`` (``submenu-id>entry-id``), as ``grub-set-default`` takes it.
* ``grubenv`` is GRUB's 1024-byte environment block: ``# GRUB Environment Block`` and ``name=value`` lines,
  padded with ``#``; GRUB rewrites it in place at boot (``save_env``), so its size must not change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import OrderedDict

# --------------------------------------------------------------------------------------------------------------
# Releases

# What a release may contain: the version (digits first), then letters, digits and . + ~ _ - ; nothing a shell or a
# path could misread (no / or spaces), at most 100 characters.
_RELEASE_RE = re.compile(r'^[0-9]+\.[0-9]+[0-9A-Za-z.+~_-]{0,98}$')

# Debian/Ubuntu flavour endings -> the machine (``uname -m``) that runs them. Longest first, so ``686-pae`` is
# matched before ``pae`` would be. ``generic``/``lowlatency`` (Ubuntu) name no architecture and are not listed.
_FLAVOUR_MACHINES = (
    ('powerpc64le-64k', 'ppc64le'), ('powerpc64le', 'ppc64le'), ('armmp-lpae', 'armv7l'), ('arm64-16k', 'aarch64'),
    ('686-pae', 'i686'), ('armmp', 'armv7l'), ('amd64', 'x86_64'), ('arm64', 'aarch64'), ('686', 'i686'),
    ('s390x', 's390x'), ('riscv64', 'riscv64'), ('loong64', 'loongarch64'), ('4kc-malta', 'mips'),
    ('5kc-malta', 'mips64'), ('octeon', 'mips64'), ('loongson-3', 'mips64'), ('mips32r2el', 'mips'),
    ('mips64r2el', 'mips64'), ('marvell', 'armv5tel'),
    # Raspberry Pi OS (6.6.51+rpt-rpi-v8): 64-bit v8 and the Pi 5's 2712, 32-bit v7/v7l, and v6 for the Pi 1/Zero
    ('rpi-2712', 'aarch64'), ('rpi-v8', 'aarch64'), ('rpi-v7l', 'armv7l'), ('rpi-v7', 'armv7l'),
    ('rpi-v6', 'armv6l'), ('rpi', 'armv6l'),
)
# RHEL-family releases end with the RPM architecture.
_RPM_MACHINES = ('x86_64', 'aarch64', 'ppc64le', 's390x', 'i686', 'armv7hl', 'riscv64')
# ``uname -m`` values that run the same kernels (an i686 kernel runs on an x86_64 machine only with a 32-bit
# userland, which is not what a kernel pin is for, so x86_64 stays strict).
_MACHINE_ALIASES = {'amd64': 'x86_64', 'arm64': 'aarch64', 'i386': 'i686', 'i586': 'i686', 'armv7hl': 'armv7l'}

PREVIOUS = 'previous'

# What /proc/version says of the build: Debian `#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)`,
# Ubuntu's /proc/version_signature `Ubuntu 5.15.0-48.54~20.04.1-generic 5.15.60`, Proxmox `PMX 6.8.12-4 (...)`
# (`PVE` before 8.2).
BUILD_VERSION_RES = (
    re.compile(r"\bDebian (\d[\w.+~:-]*)"),
    re.compile(r"^Ubuntu (\d[\w.+~-]*?)-[a-z][\w-]* "),
    re.compile(r"\b(?:PVE|PMX) (\d[\w.+~-]*)"),
)


def build_version(proc_version, version_signature=None):
    """The distribution's version of the running kernel's build, or None: `6.1.158-1`, `5.15.0-48.54~20.04.1`."""
    # in /proc/version, what uname -v prints (`#1 SMP ...`) comes after the compiler's own version
    # (`gcc-12 (Debian 12.2.0-14)`): only that part counts
    build = (proc_version or "").rpartition(" #")[2] if proc_version and " #" in proc_version else ""
    for text in (version_signature, build):
        for pattern in BUILD_VERSION_RES:
            match = pattern.search(text or "")
            if match:
                return match.group(1)
    return None


def valid_release(release):
    """True when ``release`` looks like a ``uname -r`` string (it still may not exist)."""
    return (isinstance(release, str) and len(release) <= 100 and bool(_RELEASE_RE.match(release))
            and '..' not in release)


def normalize_machine(machine):
    return _MACHINE_ALIASES.get(machine, machine)


def release_machine(release):
    """The machine (``uname -m`` spelling) a release is built for, or None when its name does not say."""
    for arch in _RPM_MACHINES:
        if release.endswith('.' + arch):
            return normalize_machine(arch)
    flavour = split_release(release)[1]
    for suffix, machine in _FLAVOUR_MACHINES:
        if flavour == suffix or flavour.endswith('-' + suffix):
            return machine
    return None


def split_release(release):
    """``(version, flavour)``: ``6.1.0-47-amd64`` -> ``('6.1.0-47', 'amd64')``; ``6.1.0-47-cloud-amd64`` ->
    ``('6.1.0-47', 'cloud-amd64')``; RPM-style releases have no flavour: ``('5.14.0-427.el9.x86_64', '')``."""
    parts = release.split('-')
    version = [parts[0]]
    rest = parts[1:]
    # one ABI token (6.1.0-47, 6.8.0-45, 5.14.0-427.el9.x86_64); Debian 13 keeps it in the first (6.12.118+deb13).
    # Flavours may start with a digit themselves (686-pae), so never more than one.
    if rest and rest[0][:1].isdigit() and '+' not in parts[0]:
        version.append(rest.pop(0))
    return '-'.join(version), '-'.join(rest)


def release_problem(release, machine):
    """None when ``release`` can run on ``machine`` as far as its name tells; else a sentence saying why not."""
    if not valid_release(release):
        return ('is not a kernel release: expected what uname -r prints, for example 6.1.0-47-amd64, '
                'or "previous"')
    built_for = release_machine(release)
    if built_for is not None and built_for != normalize_machine(machine):
        return 'is built for %s, but this host is %s' % (built_for, machine)
    return None


def _order(char):
    """dpkg's character order: ``~`` first, then the end of the string, then letters, then everything else."""
    if char == '~':
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(left, right):
    """dpkg verrevcmp(): alternating non-digit and digit runs."""
    i = j = 0
    while i < len(left) or j < len(right):
        first_diff = 0
        while (i < len(left) and not left[i].isdigit()) or (j < len(right) and not right[j].isdigit()):
            lc = _order(left[i]) if i < len(left) and not left[i].isdigit() else 0
            rc = _order(right[j]) if j < len(right) and not right[j].isdigit() else 0
            if lc != rc:
                return -1 if lc < rc else 1
            i += 1
            j += 1
        while i < len(left) and left[i] == '0':
            i += 1
        while j < len(right) and right[j] == '0':
            j += 1
        while i < len(left) and left[i].isdigit() and j < len(right) and right[j].isdigit():
            if not first_diff:
                first_diff = (left[i] > right[j]) - (left[i] < right[j])
            i += 1
            j += 1
        if i < len(left) and left[i].isdigit():
            return 1
        if j < len(right) and right[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _rpm_compare(left, right):
    """rpmvercmp(): alphanumeric segments, numbers numerically and newer than letters, ``~`` oldest."""
    a = re.findall(r'~|[0-9]+|[A-Za-z]+', left)
    b = re.findall(r'~|[0-9]+|[A-Za-z]+', right)
    for index in range(min(len(a), len(b))):
        x, y = a[index], b[index]
        if x == y:
            continue
        if x == '~' or y == '~':
            return -1 if x == '~' else 1
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else (1 if int(x) > int(y) else 0) or (-1 if x < y else 1)
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        return -1 if x < y else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def compare_releases(left, right):
    """-1, 0 or 1: as rpm orders RHEL-family releases (both ending in an RPM architecture), else as dpkg
    --compare-versions orders versions."""
    if any(left.endswith('.' + arch) for arch in _RPM_MACHINES) and \
            any(right.endswith('.' + arch) for arch in _RPM_MACHINES):
        return _rpm_compare(left, right)
    result = _compare_part(left, right)
    return (result > 0) - (result < 0)


class _Key(object):
    def __init__(self, release):
        self.release = release

    def __lt__(self, other):
        return compare_releases(self.release, other.release) < 0


def release_key(release):
    """A sort key that orders releases (or package versions) as compare_releases does."""
    return _Key(release)


def sort_releases(releases):
    """Oldest first."""
    return sorted(releases, key=_Key)


def choose_previous(running, installed):
    """The newest installed release older than ``running`` with the same flavour, or None."""
    flavour = split_release(running)[1]
    older = [release for release in installed
             if split_release(release)[1] == flavour and compare_releases(release, running) < 0]
    return sort_releases(older)[-1] if older else None


def package_name(release, family):
    """The package that ships ``release``: ``linux-image-<release>`` (Debian/Ubuntu), ``kernel-core-<release>``."""
    if family == 'redhat':
        return 'kernel-core-%s' % release
    return 'linux-image-%s' % release


# --------------------------------------------------------------------------------------------------------------
# grub.cfg

_ENTRY_RE = re.compile(r"^(\s*)(menuentry|submenu)\s+(?:'((?:[^']|'\\'')*)'|\"([^\"]*)\"|(\S+))(.*?)\{\s*$")
_ID_RE = re.compile(r"""\$menuentry_id_option\s+(?:'([^']*)'|"([^"]*)"|(\S+))|--id[= ]\s*(?:'([^']*)'|(\S+))""")
_KERNEL_CMDS = ('linux', 'linux16', 'linuxefi', 'kernel')
_INITRD_CMDS = ('initrd', 'initrd16', 'initrdefi')


def _title(match):
    if match.group(3) is not None:
        return match.group(3).replace("'\\''", "'")
    return match.group(4) if match.group(4) is not None else match.group(5)


def parse_grub_cfg(text):
    """Every ``menuentry`` of a grub.cfg, in menu order, as dicts.

    Each has ``title``, ``id`` (None without an id), ``path`` (ids, or titles where an id is missing, of the
    enclosing submenus and the entry joined with ``>``: what ``grub-set-default``/``grub-reboot`` take),
    ``submenu`` (the enclosing submenu's title or None), ``kernel`` (path of the ``linux`` command), ``release``
    (from a ``vmlinuz-<release>`` kernel path), ``args`` (the kernel arguments as written), ``initrd``,
    ``recovery`` (a recovery-mode entry), ``lines`` (the entry's text, first line to closing brace) and
    ``top_index`` (position among the top-level items, for numeric defaults).
    """
    entries = []
    stack = []  # open blocks: dicts with kind, title, id, entry (for menuentry)
    top_index = -1
    lines = (text or '').splitlines()
    for line in lines:
        match = _ENTRY_RE.match(line)
        if match:
            kind = match.group(2)
            title = _title(match)
            found = _ID_RE.search(match.group(6) or '')
            ident = None
            if found:
                ident = next(group for group in found.groups() if group is not None)
            if not stack:
                top_index += 1
            block = {'kind': kind, 'title': title, 'id': ident, 'lines': [line], 'top_index': top_index}
            stack.append(block)
            continue
        if not stack:
            continue
        for block in stack:
            if block['kind'] == 'menuentry':
                block['lines'].append(line)
        stripped = line.strip()
        words = stripped.split(None, 2)
        current = stack[-1]
        if current['kind'] == 'menuentry' and words:
            if words[0] in _KERNEL_CMDS and len(words) >= 2:
                current['kernel'] = words[1]
                current['args'] = words[2].strip() if len(words) > 2 else ''
            elif words[0] in _INITRD_CMDS and len(words) >= 2:
                current['initrd'] = words[1:]
        if stripped == '}':
            block = stack.pop()
            if block['kind'] != 'menuentry':
                continue
            parents = [b for b in stack if b['kind'] == 'submenu']
            kernel = block.get('kernel')
            release = None
            if kernel:
                base = kernel.rsplit('/', 1)[-1]
                for prefix in ('vmlinuz-', 'vmlinux-', 'bzImage-'):
                    if base.startswith(prefix):
                        release = base[len(prefix):]
            args = block.get('args', '')
            ident = block['id']
            entries.append({
                'title': block['title'],
                'id': ident,
                'path': '>'.join([p['id'] or p['title'] for p in parents] + [ident or block['title']]),
                'submenu': parents[-1]['title'] if parents else None,
                'kernel': kernel,
                'release': release,
                'args': args,
                'initrd': block.get('initrd', []),
                'recovery': ('recovery mode' in block['title'] or '-recovery-' in (ident or '')
                             or 'single' in args.split()),
                'lines': block['lines'],
                'top_index': block['top_index'],
            })
    return entries


def release_entry(entries, release):
    """The entry that boots ``release`` for good: not recovery, not the floating 'simple' entry (which follows the
    newest kernel), preferring an entry with an id. None when the menu has none."""
    candidates = [entry for entry in entries
                  if entry['release'] == release and not entry['recovery'] and entry['id'] != TRIAL_ID
                  and not (entry['id'] or '').startswith('gnulinux-simple-')]
    if not candidates:
        candidates = [entry for entry in entries if entry['release'] == release and not entry['recovery']
                      and entry['id'] != TRIAL_ID]
    with_id = [entry for entry in candidates if entry['id']]
    return (with_id or candidates or [None])[0]


def resolve_default(entries, default):
    """The entry a GRUB ``default`` value selects: a number (top-level position, GRUB falls back to 0), an id or
    title path with ``>``, or a lone id/title anywhere in the menu. None when nothing matches."""
    if default is None:
        return None
    default = default.strip()
    if default == '':
        default = '0'
    if default.isdigit():
        wanted = int(default)
        tops = [entry for entry in entries if entry['submenu'] is None]
        for entry in tops:
            if entry['top_index'] == wanted:
                return entry
        return None
    for entry in entries:
        if entry['path'] == default:
            return entry
    # titles in a path, or a bare id of an entry inside a submenu
    for entry in entries:
        names = [entry['id'], entry['title']]
        if default in names:
            return entry
        if '>' in default and default.split('>')[-1] in names:
            parent = default.split('>')[0]
            if entry['submenu'] is not None and (parent in entry['path'].split('>')[0] or parent == entry['submenu']):
                return entry
    return None


# --------------------------------------------------------------------------------------------------------------
# The trial entry

TRIAL_ID = 'lastwords-trial'
TRIAL_TITLE_PREFIX = 'lastwords trial: '

_TRIAL_SCRIPT_HEAD = """\
#!/bin/sh
# Managed by Ansible (lastwords.panic.kernel_boot). Do not edit: the role removes this file when the trial is over.
#
# A one-time trial entry for kernel %(release)s: grub-reboot %(id)s boots it once; %(panic)s makes a kernel that
# panics reset itself, and GRUB then boots the saved default again. Copied from the menu entry
# %(source)s.
exec cat <<'LASTWORDS_TRIAL_EOF'
"""
_TRIAL_SCRIPT_TAIL = 'LASTWORDS_TRIAL_EOF\n'


def trial_entry_lines(entry, args):
    """The menu entry ``entry`` turned into the trial entry: title and id changed, kernel arguments ``args``,
    indentation taken back to the top level, no ``savedefault``."""
    lines = list(entry['lines'])
    first = lines[0]
    indent = first[:len(first) - len(first.lstrip())]
    out = []
    for index, line in enumerate(lines):
        if line.startswith(indent):
            line = line[len(indent):]
        if index == 0:
            match = _ENTRY_RE.match(line)
            rest = _ID_RE.sub('', match.group(6) or '').strip()
            title = (TRIAL_TITLE_PREFIX + entry['title']).replace("'", '')
            line = "menuentry '%s' %s $menuentry_id_option '%s' {" % (title, rest, TRIAL_ID)
            line = re.sub(r'\s+', ' ', line)
        else:
            words = line.strip().split(None, 2)
            if words and words[0] == 'savedefault':
                continue
            if words and words[0] in _KERNEL_CMDS and len(words) >= 2:
                lead = line[:len(line) - len(line.lstrip())]
                line = '%s%s\t%s %s' % (lead, words[0], words[1], args)
        out.append(line.rstrip() if index else line)
    return out


def render_trial_script(entry, args, release, panic_arg):
    """The /etc/grub.d script that emits the trial entry (a here-document: GRUB evaluates ``$...`` at boot)."""
    body = '\n'.join(trial_entry_lines(entry, args)) + '\n'
    if 'LASTWORDS_TRIAL_EOF' in body:
        raise ValueError('the menu entry contains the here-document terminator')
    head = _TRIAL_SCRIPT_HEAD % {'release': release, 'id': TRIAL_ID, 'panic': panic_arg, 'source': entry['path']}
    return head + body + _TRIAL_SCRIPT_TAIL


# --------------------------------------------------------------------------------------------------------------
# GRUB environment block

ENVBLK_HEADER = '# GRUB Environment Block\n'
ENVBLK_SIZE = 1024


def parse_grubenv(text):
    """``OrderedDict`` of the variables in a grubenv text (comment and padding lines skipped)."""
    values = OrderedDict()
    for line in (text or '').split('\n'):
        if not line or line.startswith('#'):
            continue
        name, sep, value = line.partition('=')
        if sep:
            values[name] = value.replace('\\n', '\n').replace('\\\\', '\\')
    return values


def grubenv_comments(text):
    """The comment lines of a grubenv text (``# WARNING: ...``), header and ``#`` padding left out."""
    return [line for line in (text or '').split('\n')
            if line.startswith('# ') and line + '\n' != ENVBLK_HEADER]


def render_grubenv(values, size=ENVBLK_SIZE, comments=()):
    """A grubenv block of exactly ``size`` bytes holding ``values`` after the header and ``comments``;
    ValueError when they do not fit."""
    body = ENVBLK_HEADER + ''.join(line + '\n' for line in comments)
    for name, value in values.items():
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name):
            raise ValueError('invalid grubenv variable name %r' % (name,))
        body += '%s=%s\n' % (name, value.replace('\\', '\\\\').replace('\n', '\\n'))
    data = body.encode('utf-8')
    if len(data) > size:
        raise ValueError('the GRUB environment block would need %d bytes, more than its %d' % (len(data), size))
    return data + b'#' * (size - len(data))


# --------------------------------------------------------------------------------------------------------------
# Package state (dpkg status file, read without running dpkg)

def dpkg_status(text, packages):
    """``{package: {'installed': bool, 'held': bool, 'version': str|None}}`` for the named packages."""
    wanted = set(packages)
    result = dict((name, {'installed': False, 'held': False, 'version': None}) for name in packages)
    for stanza in (text or '').split('\n\n'):
        fields = {}
        for line in stanza.splitlines():
            if line[:1] in (' ', '\t') or ':' not in line:
                continue
            key, _sep, value = line.partition(':')
            fields[key] = value.strip()
        name = fields.get('Package')
        if name not in wanted:
            continue
        status = fields.get('Status', '').split()
        result[name] = {
            'installed': len(status) == 3 and status[2] in ('installed', 'triggers-awaited', 'triggers-pending'),
            'held': bool(status) and status[0] == 'hold',
            'version': fields.get('Version'),
        }
    return result


def apt_candidate(policy_output):
    """The ``Candidate:`` of ``apt-cache policy <pkg>`` output (LC_ALL=C), or None for none/unknown packages."""
    for line in (policy_output or '').splitlines():
        line = line.strip()
        if line.startswith('Candidate:'):
            value = line.split(':', 1)[1].strip()
            return None if value in ('', '(none)') else value
    return None


# --------------------------------------------------------------------------------------------------------------
# BLS entries (RHEL family: /boot/loader/entries/*.conf)

def parse_bls(text):
    """``OrderedDict`` key -> value of a Boot Loader Specification entry (first word is the key)."""
    values = OrderedDict()
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = line.split(None, 1)
        values[parts[0]] = parts[1] if len(parts) > 1 else ''
    return values


def render_bls(values):
    return ''.join('%s %s\n' % (key, value) for key, value in values.items())
