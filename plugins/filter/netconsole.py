# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netconsole role's view of module_utils/_netconsole: validation, the kernel parameter, the boot-time file.

The role validates, formats and parses netconsole targets with the same code the netconsole_target module and
the boot-time apply run, so the three cannot read a target differently.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.module_utils._netconsole import (
    CONF_KEYS,
    DEFAULT_LOCAL_PORT,
    DEFAULT_REMOTE_PORT,
    NetconsoleValueError,
    conf_text,
    format_target,
    parse_param,
    target_defaults,
    validate_params,
)

# What a user may put in one netconsole_targets item.
TARGET_KEYS = ("name", "remote_ip", "remote_port", "local_port", "remote_mac", "extended", "release")


def netconsole_problems(targets, variable="netconsole_targets"):
    """One message per wrong value in the role's target list, each naming `<variable>[i].<key>`; [] when all is well."""
    if not isinstance(targets, list):
        return ["%s must be a list of targets such as [{remote_ip: 192.0.2.10}], got %r" % (variable, targets)]
    problems = []
    for index, item in enumerate(targets):
        where = "%s[%d]" % (variable, index)
        if not isinstance(item, dict):
            problems.append("%s must be a mapping with remote_ip (and optionally %s), got %r"
                            % (where, ", ".join(TARGET_KEYS[2:]), item))
            continue
        unknown = sorted(set(item) - set(TARGET_KEYS))
        if unknown:
            problems.append("%s has unknown keys %s; a target takes %s"
                            % (where, ", ".join(unknown), ", ".join(TARGET_KEYS)))
        params = dict(
            target_defaults(),
            name=item.get("name") or "lastwords%d" % index,
            remote_ip=item.get("remote_ip"),
            local_port=_or(item.get("local_port"), DEFAULT_LOCAL_PORT),
            remote_port=_or(item.get("remote_port"), DEFAULT_REMOTE_PORT),
            remote_mac=item.get("remote_mac"),
            extended=_flag(item.get("extended")),
            release=_flag(item.get("release")),
        )
        try:
            validate_params(params)
        except NetconsoleValueError as exc:
            problems.append("%s.%s %s" % (where, exc.field, exc.reason))
    return problems


def _or(value, default):
    return default if value is None else value


def _flag(value):
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def netconsole_param(target):
    """The ``netconsole=`` value for one resolved target of the role (name, dev_name, local_ip, ports, MAC, flags)."""
    try:
        return format_target(
            remote_ip=target["remote_ip"],
            remote_port=target.get("remote_port"),
            remote_mac=target.get("remote_mac") or None,
            local_ip=target.get("local_ip") or None,
            local_port=target.get("local_port"),
            dev_name=target.get("dev_name") or None,
            extended=_flag(target.get("extended")),
            release=_flag(target.get("release")),
        )
    except (NetconsoleValueError, KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("netconsole_param: %s" % exc) from None


def netconsole_cmdline_targets(cmdline, strict=True):
    """The targets of the ``netconsole.netconsole=`` (or ``netconsole=``) argument of a kernel command line.

    [] without one. Each is a dict of parse_target (local_ip, dev_name, remote_ip, ports, remote_mac, ...). A
    malformed value fails with the reason, or gives [] with strict=false (the netconsole role asks whether its
    own argument is there: a value it cannot read is not its own).
    """
    for word in str(cmdline).split():
        for prefix in ("netconsole.netconsole=", "netconsole="):
            if word.startswith(prefix):
                try:
                    return parse_param(word[len(prefix):])
                except NetconsoleValueError as exc:
                    if not strict:
                        return []
                    raise AnsibleFilterError("the running kernel's %s is not readable: %s" % (word, exc)) from None
    return []


def netconsole_conf(targets):
    """The boot-time file (JSON) for the role's resolved targets: only the keys the apply reads, validated."""
    try:
        return conf_text([{key: target.get(key) for key in CONF_KEYS} for target in targets])
    except NetconsoleValueError as exc:
        raise AnsibleFilterError("netconsole_conf: %s" % exc) from None
    except AttributeError:
        raise AnsibleFilterError("netconsole_conf: targets must be a list of mappings, got %r" % (targets,)) from None


class FilterModule:
    def filters(self):
        return {
            "netconsole_problems": netconsole_problems,
            "netconsole_param": netconsole_param,
            "netconsole_cmdline_targets": netconsole_cmdline_targets,
            "netconsole_conf": netconsole_conf,
        }
