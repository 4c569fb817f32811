"""Every boolean role variable is read through `| bool` wherever a role decides on it.

`-e kdump_reboot_ok=false` on the command line is the string "false", and a string is true in Jinja: the kdump
role's reboot condition (`__kdump_reboot_needed and kdump_reboot_ok and not ansible_check_mode`) rebooted a host
whose operator had said false. This reads the roles' own files: the conditions (`when`, `that`, `changed_when`,
`failed_when`) and every Jinja expression in tasks, handlers and templates.
"""

import re
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
CONDITION_KEYS = {"when", "that", "changed_when", "failed_when", "until"}


def boolean_defaults() -> set[str]:
    names = set()
    for defaults in ROLES.glob("*/defaults/main.yml"):
        names |= {k for k, v in (yaml.safe_load(defaults.read_text()) or {}).items() if isinstance(v, bool)}
    return names


def expressions(node, key=None):
    """Jinja expressions in a parsed task file: whole conditions, and what is inside {{ }} / {% %} elsewhere."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from expressions(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item, key)
    elif isinstance(node, str):
        if key in CONDITION_KEYS:
            yield node
        yield from jinja(node)


def jinja(text: str) -> list[str]:
    """What is inside each {{ }} and {% %} of ``text``."""
    return [a or b for a, b in re.findall(r"{{(.*?)}}|{%(.*?)%}", text, re.S)]


def unconverted(text: str, names: set[str]) -> list[str]:
    return [name for name in names if re.search(r"(?<![\w.'\"])" + name + r"\b(?!\s*\|\s*bool)", text)]


def test_boolean_variables_are_read_through_bool():
    names = boolean_defaults()
    assert {"kdump_reboot_ok", "netconsole_reboot_ok", "kernel_reboot_ok", "kdump_enabled"} <= names
    found = []
    for path in sorted(ROLES.glob("*/tasks/*.yml")) + sorted(ROLES.glob("*/handlers/*.yml")):
        for expr in expressions(yaml.safe_load(path.read_text())):
            found += [f"{path.relative_to(ROLES)}: {name} in {expr.strip()!r}" for name in unconverted(expr, names)]
    for path in sorted(ROLES.glob("*/templates/*.j2")):
        for expr in jinja(path.read_text()):
            found += [f"{path.relative_to(ROLES)}: {name} in {expr.strip()!r}" for name in unconverted(expr, names)]
    assert not found, "\n".join(found)


def test_the_check_finds_a_raw_use():
    assert unconverted("__kdump_reboot_needed and kdump_reboot_ok and not ansible_check_mode",
                       {"kdump_reboot_ok"}) == ["kdump_reboot_ok"]
    assert unconverted("kdump_reboot_ok | bool and x", {"kdump_reboot_ok"}) == []
