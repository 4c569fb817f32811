"""The roles' meta/argument_specs.yml, checked by ansible-core's own validator (the one the role's first task runs).

What a spec can say (types, choices) is refused there, before any task of the role runs; these cases read the
roles' real spec files and put values through ansible-core's ArgumentSpecValidator as the role's entry point does.
"""

from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROLES = Path(__file__).resolve().parents[3] / "roles"


def validate(role: str, **values):
    spec = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    return ArgumentSpecValidator(spec["options"]).validate(values)


def test_every_role_has_a_spec_the_validator_takes():
    roles = sorted(p.parent.parent.name for p in ROLES.glob("*/meta/argument_specs.yml"))
    assert roles == ["collect", "drill", "kdump", "kernel", "netconsole", "pstore", "readiness", "receiver", "report",
                     "soak"]
    required = {"kernel": {"kernel_version": "previous"},  # what the user must say; the rest has defaults
                "report": {"report": {"text": [], "markdown": ""}, "report_name": "soak", "report_title": "Soak",
                           "report_dir": "/tmp/lastwords-report"}}
    for role in roles:
        assert not validate(role, **required.get(role, {})).error_messages, role
    assert validate("kernel").error_messages == ["missing required arguments: kernel_version"]


@pytest.mark.parametrize("value", [1, 4, 8, "8"])
def test_console_loglevel_in_range_is_taken(value):
    result = validate("netconsole", netconsole_console_loglevel=value)
    assert not result.error_messages
    assert result.validated_parameters["netconsole_console_loglevel"] == int(value)


@pytest.mark.parametrize("value", [0, 9, -1, "15"])
def test_console_loglevel_out_of_range_is_refused_naming_the_variable(value):
    result = validate("netconsole", netconsole_console_loglevel=value)
    assert len(result.error_messages) == 1
    assert "netconsole_console_loglevel" in result.error_messages[0]
    assert "1, 2, 3, 4, 5, 6, 7, 8" in result.error_messages[0]


def test_kdump_compression_outside_the_choices_is_refused():
    result = validate("kdump", kdump_compression="gzip")
    assert len(result.error_messages) == 1 and "kdump_compression" in result.error_messages[0]
    assert not validate("kdump", kdump_compression="lzo").error_messages


def test_readiness_inputs_are_typed():
    assert not validate("readiness", lastwords_readiness_strict="false", lastwords_readiness_canary_retries="3",
                        lastwords_readiness_receivers=[]).error_messages
    result = validate("readiness", lastwords_readiness_canary_retries="five")
    assert len(result.error_messages) == 1 and "lastwords_readiness_canary_retries" in result.error_messages[0]
    result = validate("readiness", lastwords_readiness_strict="perhaps")
    assert len(result.error_messages) == 1 and "lastwords_readiness_strict" in result.error_messages[0]


def test_report_needs_its_report_name_and_dir():
    messages = validate("report").error_messages
    assert messages == ["missing required arguments: report, report_dir, report_name, report_title"], messages


@pytest.mark.parametrize(("role", "values", "named"), [
    ("kdump", {"kdump_dump_level": 99}, "kdump_dump_level"),
    ("kdump", {"kdump_dump_level": "-1"}, "kdump_dump_level"),
    ("receiver", {"receiver_rotate": {"frequency": "hourly"}}, "frequency must be one of: daily, weekly"),
    ("receiver", {"receiver_rotate": {"count": "eight"}}, "'count' is of type str found in 'receiver_rotate'"),
    ("receiver", {"receiver_alert_lines": "x"}, "receiver_alert_lines"),
    ("receiver", {"receiver_alert_delay": "soon"}, "receiver_alert_delay"),
    ("drill", {"lastwords_drill_timeout": "10m"}, "lastwords_drill_timeout"),
    ("soak", {"lastwords_soak_duration": "1.5"}, "lastwords_soak_duration"),
    ("soak", {"lastwords_soak_port": "http"}, "lastwords_soak_port"),
    ("collect", {"lastwords_collect_frames": "all"}, "lastwords_collect_frames"),
])
def test_types_and_choices_moved_out_of_the_tasks_are_refused_by_the_spec(role, values, named):
    """The tasks' checks keep only ranges and host facts; these are refused before any task runs."""
    result = validate(role, **values)
    assert len(result.error_messages) == 1, result.error_messages
    assert named in result.error_messages[0], result.error_messages[0]


def test_kdump_dump_level_takes_each_bitmask():
    assert all(not validate("kdump", kdump_dump_level=level).error_messages for level in range(32))


def test_pstore_backend_choices():
    assert not validate("pstore", pstore_backend="efi", pstore_ramoops={"mem_address": "0x30000000"}).error_messages
    result = validate("pstore", pstore_backend="mtd")
    assert len(result.error_messages) == 1 and "pstore_backend" in result.error_messages[0]
