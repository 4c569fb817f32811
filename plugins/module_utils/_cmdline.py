# -*- coding: utf-8 -*-
# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel command line, crashkernel= and GRUB defaults parsing for lastwords.panic (private).

Pure functions: no I/O, no Ansible imports, Python 3.6+ standard library only, so unit tests call them directly.

Kernel semantics followed here (kernel/params.c next_arg(), kernel/crash_reserve.c):

* Arguments are separated by unquoted whitespace; a double quote toggles quoting anywhere in an argument,
  so ``foo="a b"`` is one argument whose value is ``a b`` (the quotes around the value are dropped).
* Parameter names compare with ``-`` and ``_`` as the same character.
* ``--`` ends the kernel's arguments; what follows goes to init.
* Of several ``crashkernel=`` the kernel uses the last one; sizes take K, M, G, T, P or E suffixes; ranges are
  ``start-[end]:size`` with ``end`` exclusive; ``,high``/``,low`` (and ``,cma`` on recent kernels) qualify a size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import OrderedDict

# --------------------------------------------------------------------------------------------------------------
# Sizes

_SIZE_SHIFT = {'': 0, 'K': 10, 'M': 20, 'G': 30, 'T': 40, 'P': 50, 'E': 60}
_SIZE_RE = re.compile(r'^(0[xX][0-9a-fA-F]+|[0-9]+)([KMGTPEkmgtpe]?)$')


def parse_size(text):
    """Return the number of bytes in a kernel memory size such as ``256M``, ``1G``, ``0x1000`` or ``512k``.

    Raises ValueError on anything else (the kernel's memparse() would silently stop at the first bad character;
    a configuration tool should refuse instead).
    """
    match = _SIZE_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError('invalid size %r: expected a number with an optional K, M, G, T, P or E suffix' % (text,))
    number = int(match.group(1), 0) if match.group(1)[:2].lower() == '0x' else int(match.group(1), 10)
    return number << _SIZE_SHIFT[match.group(2).upper()]


def format_size(num_bytes):
    """Render bytes in the largest binary unit that keeps one decimal, e.g. ``41.0 MiB``, ``2.0 GiB``."""
    value = float(num_bytes)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(value) < 1024 or unit == 'TiB':
            return ('%d B' % num_bytes) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024
    return '%d B' % num_bytes  # pragma: no cover - loop always returns


# --------------------------------------------------------------------------------------------------------------
# crashkernel=

_CRASH_SUFFIXES = ('high', 'low', 'cma')


def parse_crashkernel(value):
    """Parse the value of ``crashkernel=`` into a dict.

    Keys: ``size`` (bytes, for the plain form), ``ranges`` (list of ``(start, end_or_None, size)``, for the
    memory-dependent form), ``offset`` (bytes or None), ``suffix`` (``high``, ``low``, ``cma`` or None),
    ``auto`` (True for RHEL's legacy ``crashkernel=auto``).  Exactly one of ``size``/``ranges`` is set unless
    ``auto``.  Raises ValueError with a message naming the faulty part.
    """
    if value is None or not str(value).strip():
        raise ValueError('crashkernel needs a value, e.g. crashkernel=256M')
    text = str(value).strip()
    result = {'size': None, 'ranges': None, 'offset': None, 'suffix': None, 'auto': False}
    if text == 'auto':
        result['auto'] = True
        return result
    if ',' in text:
        head, tail = text.rsplit(',', 1)
        if tail in _CRASH_SUFFIXES:
            result['suffix'] = tail
            text = head
    if '@' in text:
        text, offset = text.rsplit('@', 1)
        result['offset'] = parse_size(offset)
    if ':' not in text:
        if result['suffix'] and result['offset'] is not None:
            raise ValueError('crashkernel=%s: ,%s cannot be combined with @offset' % (value, result['suffix']))
        result['size'] = parse_size(text)
        return result
    if result['suffix']:
        raise ValueError('crashkernel=%s: ,%s applies to a plain size, not to ranges' % (value, result['suffix']))
    ranges = []
    previous_end = 0
    for part in text.split(','):
        if ':' not in part or '-' not in part.split(':', 1)[0]:
            raise ValueError('crashkernel=%s: range %r is not start-[end]:size' % (value, part))
        span, size = part.split(':', 1)
        start_text, end_text = span.split('-', 1)
        start = parse_size(start_text)
        end = parse_size(end_text) if end_text else None
        if end is not None and end <= start:
            raise ValueError('crashkernel=%s: range %r ends before it starts' % (value, part))
        if previous_end is None:
            raise ValueError('crashkernel=%s: range %r follows an open-ended range' % (value, part))
        if start < previous_end:
            raise ValueError('crashkernel=%s: range %r overlaps the previous one' % (value, part))
        ranges.append((start, end, parse_size(size)))
        previous_end = end
    result['ranges'] = ranges
    return result


def crashkernel_size(value, ram_bytes):
    """Bytes the kernel would reserve for ``crashkernel=<value>`` on a machine with ``ram_bytes`` of RAM.

    ``value`` is the string or the dict from parse_crashkernel().  Ranges match ``start <= RAM < end``; no
    matching range means 0.  Returns None for ``auto`` (the size is decided by the distribution's kernel).
    Note that the kernel compares with the total system RAM, which is a little more than MemTotal.
    """
    parsed = value if isinstance(value, dict) else parse_crashkernel(value)
    if parsed['auto']:
        return None
    if parsed['size'] is not None:
        return parsed['size']
    for start, end, size in parsed['ranges']:
        if ram_bytes >= start and (end is None or ram_bytes < end):
            return size
    return 0


# --------------------------------------------------------------------------------------------------------------
# Kernel command line

_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:,/+@-]*$')
# Characters a value cannot carry through /etc/default/grub (sh), grub.cfg (GRUB script) and the kernel's own
# quoting: the kernel has no escape for a double quote, GRUB expands $ and treats \ and ' specially.
_BAD_VALUE_CHARS = ('"', "'", '$', '`', '\\', '\n', '\r', '\0')
_NEEDS_QUOTES_RE = re.compile(r'[\s;&|<>(){}#*?\[\]]')


END_OF_ARGS = '--'  # what follows is for init, not for the kernel


def normalize_name(name):
    """The kernel treats ``-`` and ``_`` in parameter names as equal (parameq())."""
    return name.replace('-', '_')


def split_cmdline(text):
    """Split a kernel command line into its raw arguments, quotes kept, as the kernel does."""
    tokens = []
    current = []
    in_quote = False
    for char in text or '':
        if char.isspace() and not in_quote:
            if current:
                tokens.append(''.join(current))
                current = []
            continue
        if char == '"':
            in_quote = not in_quote
        current.append(char)
    if current:
        tokens.append(''.join(current))
    return tokens


def parse_token(token):
    """Return ``(name, value)`` for one raw argument; value is None for a bare flag like ``quiet``."""
    body = token
    quoted = body.startswith('"')
    if quoted:
        body = body[1:]
    if '=' not in body:
        if quoted and body.endswith('"'):
            body = body[:-1]
        return body, None
    name, value = body.split('=', 1)
    if value.startswith('"'):
        value = value[1:]
        if value.endswith('"'):
            value = value[:-1]
    elif quoted and value.endswith('"'):
        value = value[:-1]
    return name, value


def parse_cmdline(text):
    """Parse a command line into an ordered list of ``(name, value_or_None)``, stopping at ``--``."""
    pairs = []
    for token in split_cmdline(text):
        if token == END_OF_ARGS:
            break
        pairs.append(parse_token(token))
    return pairs


def validate_arg(name, value=None):
    """Raise ValueError unless ``name[=value]`` can be written to GRUB and read back by the kernel unchanged."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError('invalid kernel parameter name %r: use letters, digits and _ . : , / + @ - '
                         '(no spaces, quotes or "=")' % (name,))
    if value is None:
        return
    if not isinstance(value, str):
        raise ValueError('value of %s must be a string, got %r' % (name, value))
    bad = sorted(set(char for char in value if char in _BAD_VALUE_CHARS))
    if bad:
        raise ValueError('value of %s=%s contains %s, which the kernel command line cannot carry through GRUB'
                         % (name, value, ' '.join(repr(char) for char in bad)))


def format_arg(name, value=None):
    """Render one argument the way the kernel reads it back: ``quiet``, ``a=b``, ``a="b c"``."""
    validate_arg(name, value)
    if value is None:
        return name
    if value == '' or _NEEDS_QUOTES_RE.search(value):
        return '%s="%s"' % (name, value)
    return '%s=%s' % (name, value)


def values_of(pairs, name):
    """All values given to ``name`` in ``pairs``, in order (None for bare occurrences)."""
    wanted = normalize_name(name)
    return [value for key, value in pairs if normalize_name(key) == wanted]


def last_value(pairs, name):
    """``(present, value)`` of the last occurrence of ``name`` (what the kernel uses for most parameters)."""
    found = values_of(pairs, name)
    if not found:
        return False, None
    return True, found[-1]


def _desired_items(set_args):
    """Normalise ``{name: value | None | [values]}`` (or a list of pairs) to ``[(name, [values])]``."""
    items = set_args.items() if hasattr(set_args, 'items') else (set_args or [])
    result = []
    for name, value in items:
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        for one in values:
            validate_arg(name, one)
        result.append((name, values))
    return result


def edit_cmdline(text, set_args=None, remove=None):
    """Return the command line with ``set_args`` applied and every name in ``remove`` dropped.

    ``set_args`` maps a name to a value, to None (bare flag) or to a list of values (the argument repeated, e.g.
    two ``console=``).  A name that is already present keeps its first position and loses its other occurrences;
    a new name is appended before any ``--``.  Untouched arguments keep their exact original spelling.
    """
    desired = _desired_items(set_args or {})
    desired_by_norm = OrderedDict((normalize_name(name), (name, values)) for name, values in desired)
    removed = set(normalize_name(name) for name in (remove or []))
    tokens = split_cmdline(text)
    tail = []
    if END_OF_ARGS in tokens:
        index = tokens.index(END_OF_ARGS)
        tokens, tail = tokens[:index], tokens[index:]
    output = []
    placed = set()
    for token in tokens:
        name = normalize_name(parse_token(token)[0])
        if name in removed:
            continue
        if name in desired_by_norm:
            if name not in placed:
                orig_name, values = desired_by_norm[name]
                output.extend(format_arg(orig_name, value) for value in values)
                placed.add(name)
            continue
        output.append(token)
    for name, (orig_name, values) in desired_by_norm.items():
        if name not in placed:
            output.extend(format_arg(orig_name, value) for value in values)
    return ' '.join(output + tail)


def pending_changes_by_name(text, set_args=None, remove=None):
    """What differs between command line ``text`` and the desired arguments: ``OrderedDict name -> sentence``.

    Empty when ``text`` already has exactly the desired values (in order, for repeated arguments) and none of the
    removed names.  Used for ``reboot_required`` against /proc/cmdline and for checking boot entries.
    """
    pairs = parse_cmdline(text)
    changes = OrderedDict()
    for name, values in _desired_items(set_args or {}):
        current = values_of(pairs, name)
        if current != values:
            wanted = ' '.join(format_arg(name, value) for value in values)
            now = ' '.join(format_arg(name, value) for value in current) if current else 'absent'
            changes[name] = '%s (now %s)' % (wanted, now)
    for name in remove or []:
        current = values_of(pairs, name)
        if current:
            changes[name] = 'no %s (now %s)' % (name, ' '.join(format_arg(name, value) for value in current))
    return changes


def pending_changes(text, set_args=None, remove=None):
    """Plain-English list of the differences, see pending_changes_by_name()."""
    return list(pending_changes_by_name(text, set_args, remove).values())


def describe_args(set_args=None, remove=None):
    """``crashkernel=256M quiet; without splash`` - a short description of desired arguments for messages."""
    parts = []
    wanted = ' '.join(' '.join(format_arg(name, value) for value in values)
                      for name, values in _desired_items(set_args or {}))
    if wanted:
        parts.append(wanted)
    if remove:
        parts.append('without ' + ' '.join(remove))
    return '; '.join(parts)


# --------------------------------------------------------------------------------------------------------------
# Shell assignments (GRUB defaults, /etc/default/kdump-tools): read statically, never executed

_ASSIGN_RE = re.compile(r'[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)=')


def _read_shell_word(text, pos):
    """Read one shell word from ``text[pos:]``; return ``(value, dynamic, end_pos)``.

    ``dynamic`` is True when the word contains an unescaped ``$`` or backquote outside single quotes, i.e. its
    real value depends on expansion; the returned value then keeps that text literally.
    """
    out = []
    dynamic = False
    length = len(text)
    while pos < length:
        char = text[pos]
        if char in ' \t\n;&|':
            break
        if char == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                raise ValueError('unterminated single quote at offset %d' % pos)
            out.append(text[pos + 1:end])
            pos = end + 1
        elif char == '"':
            pos += 1
            while True:
                if pos >= length:
                    raise ValueError('unterminated double quote')
                char = text[pos]
                if char == '"':
                    pos += 1
                    break
                if char == '\\' and pos + 1 < length and text[pos + 1] in '$`"\\\n':
                    if text[pos + 1] != '\n':
                        out.append(text[pos + 1])
                    pos += 2
                    continue
                if char in '$`':
                    dynamic = True
                out.append(char)
                pos += 1
        elif char == '\\' and pos + 1 < length:
            if text[pos + 1] != '\n':
                out.append(text[pos + 1])
            pos += 2
        else:
            if char in '$`':
                dynamic = True
            out.append(char)
            pos += 1
    return ''.join(out), dynamic, pos


def parse_shell_assignments(text):
    """Find ``NAME=value`` assignments at the start of lines of a shell-sourced config file.

    Returns a list of ``(name, value, dynamic)`` in file order; quoting is undone as sh would; ``dynamic`` flags
    values that use ``$`` expansion or command substitution (kept literally).  Lines that are not simple
    assignments (comments, commands, ``if``) are skipped.  A value this parser cannot read (unbalanced quotes)
    raises ValueError.
    """
    found = []
    pos = 0
    length = len(text)
    while pos < length:
        match = _ASSIGN_RE.match(text, pos)
        if match:
            value, dynamic, pos = _read_shell_word(text, match.end())
            found.append((match.group(1), value, dynamic))
        newline = text.find('\n', pos)
        if newline < 0:
            break
        pos = newline + 1
    return found


def shell_values(text):
    """``{name: value}`` of the last assignment to each name, as the shell would leave it (static values)."""
    values = OrderedDict()
    for name, value, _dynamic in parse_shell_assignments(text):
        values[name] = value
    return values


def shell_single_quote(value):
    """Quote a string for sh with single quotes (any character allowed)."""
    return "'" + value.replace("'", "'\\''") + "'"


def grub_cmdline_names(text):
    """Names of arguments that a GRUB defaults file puts into GRUB_CMDLINE_LINUX(_DEFAULT), read statically.

    ``$GRUB_CMDLINE_LINUX``-style references are ignored: they carry what earlier files set.
    """
    names = []
    for name, value, _dynamic in parse_shell_assignments(text):
        if name not in ('GRUB_CMDLINE_LINUX', 'GRUB_CMDLINE_LINUX_DEFAULT'):
            continue
        for key, _value in parse_cmdline(value):
            if not key.startswith('$') and key not in names:
                names.append(key)
    return names


# --------------------------------------------------------------------------------------------------------------
# The GRUB drop-in owned by kernel_cmdline

DROPIN_ARGS_VAR = 'LASTWORDS_CMDLINE_ARGS'
DROPIN_ABSENT_VAR = 'LASTWORDS_CMDLINE_ABSENT'

_DROPIN_HEAD = """\
# Managed by Ansible (lastwords.panic.kernel_cmdline). Do not edit: the next run rewrites this file.
#
# grub-mkconfig sources /etc/default/grub, then /etc/default/grub.d/*.cfg in name order, with /bin/sh.
# This file is named to be read last (digits sort before letters: a "99-" name would be read before
# kdump-tools.cfg). It removes every argument named below from GRUB_CMDLINE_LINUX and
# GRUB_CMDLINE_LINUX_DEFAULT as the earlier files left them (for example the crashkernel= that
# kdump-tools.cfg adds), then appends its own arguments to GRUB_CMDLINE_LINUX, which GRUB puts on the
# normal and the recovery entries. A .cfg file that sorts after this one can still override it.
"""

_DROPIN_FILTER = """
# $1: a command line; $2: arguments to append. Prints $1 without the managed arguments, then $2.
# A quoted value (name="a b") is one argument: words are skipped until its closing quote.
lastwords_cmdline_filter() {
\tunset IFS
\tset -f
\t__lw_out=
\t__lw_skip=
\t__lw_inq=
\tfor __lw_word in $1; do
\t\tif [ -z "$__lw_inq" ]; then
\t\t\tcase $__lw_word in
%(patterns)s\t\t\t\t*) __lw_skip= ;;
\t\t\tesac
\t\tfi
\t\t__lw_rest=$__lw_word
\t\twhile :; do
\t\t\tcase $__lw_rest in
\t\t\t\t*\\"*) __lw_rest=${__lw_rest#*\\"}; if [ -n "$__lw_inq" ]; then __lw_inq=; else __lw_inq=1; fi ;;
\t\t\t\t*) break ;;
\t\t\tesac
\t\tdone
\t\tif [ -z "$__lw_skip" ]; then __lw_out="$__lw_out${__lw_out:+ }$__lw_word"; fi
\tdone
\tprintf '%%s' "$__lw_out${__lw_out:+${2:+ }}$2"
}
GRUB_CMDLINE_LINUX=$(lastwords_cmdline_filter "$GRUB_CMDLINE_LINUX" "$%(args_var)s")
GRUB_CMDLINE_LINUX_DEFAULT=$(lastwords_cmdline_filter "$GRUB_CMDLINE_LINUX_DEFAULT" "")
unset -f lastwords_cmdline_filter
unset %(args_var)s %(absent_var)s
"""


def _case_pattern(name):
    """sh case patterns matching ``name``, ``name=...`` and their whole-argument-quoted forms."""
    glob = re.sub(r'[-_]', '[-_]', name)
    return '%s|%s=*|\\"%s\\"|\\"%s=*' % (glob, glob, glob, glob)


def render_grub_dropin(set_args, absent):
    """Text of the drop-in that makes GRUB pass ``set_args`` and none of the ``absent`` names.

    ``set_args``: ``{name: value | None | [values]}`` in the order to append; ``absent``: list of names.
    Returns None when there is nothing to manage.
    """
    desired = _desired_items(set_args or {})
    absent = list(absent or [])
    for name in absent:
        validate_arg(name)
    if not desired and not absent:
        return None
    tokens = []
    for name, values in desired:
        tokens.extend(format_arg(name, value) for value in values)
    names = [name for name, _values in desired] + absent
    patterns = ''.join('\t\t\t\t%s) __lw_skip=1 ;;\n' % _case_pattern(name) for name in names)
    return (_DROPIN_HEAD
            + '%s=%s\n' % (DROPIN_ARGS_VAR, shell_single_quote(' '.join(tokens)))
            + '%s=%s\n' % (DROPIN_ABSENT_VAR, shell_single_quote(' '.join(absent)))
            + _DROPIN_FILTER % {'patterns': patterns, 'args_var': DROPIN_ARGS_VAR, 'absent_var': DROPIN_ABSENT_VAR})


def read_grub_dropin(text):
    """Managed state of a drop-in written by render_grub_dropin(): ``(OrderedDict name -> [values], [absent])``.

    Raises ValueError when the text is not such a drop-in (so a foreign file is never silently taken over).
    """
    values = shell_values(text or '')
    if DROPIN_ARGS_VAR not in values or DROPIN_ABSENT_VAR not in values:
        raise ValueError('not a lastwords.panic.kernel_cmdline drop-in (%s/%s assignments missing)'
                         % (DROPIN_ARGS_VAR, DROPIN_ABSENT_VAR))
    set_args = OrderedDict()
    for name, value in parse_cmdline(values[DROPIN_ARGS_VAR]):
        set_args.setdefault(name, []).append(value)
    absent = split_cmdline(values[DROPIN_ABSENT_VAR])
    return set_args, absent
