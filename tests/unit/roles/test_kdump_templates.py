"""The kdump role's templates and per-OS vars, rendered with Ansible's own templating (no host needed).

The RHEL-family path (/etc/kdump.conf, kexec-tools) cannot run in the lab (no RHEL VM boots there), so this is
where its rendering is proven.
"""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROLE = Path(__file__).resolve().parents[3] / "roles" / "kdump"


def role_vars(os_family, **overrides):
    loader = DataLoader()
    data = {}
    for name in ("defaults/main.yml", "vars/main.yml", f"vars/{os_family}.yml"):
        data.update(loader.load_from_file(str(ROLE / name), trusted_as_template=True) or {})
    data.update(ansible_managed="managed by test", **overrides)
    return data


def render(template, variables):
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template((ROLE / "templates" / template).read_text()),
                            preserve_trailing_newlines=True)


def test_redhat_kdump_conf_defaults():
    text = render("kdump.conf.j2", role_vars("RedHat"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == ["path /var/crash", "core_collector makedumpfile -c --message-level 7 -d 31",
                     "failure_action reboot"]


@pytest.mark.parametrize("compression, flag", [("lzo", "-l"), ("zstd", "-z"), ("snappy", "-p"), ("none", "")])
def test_redhat_kdump_conf_compression_and_level(compression, flag):
    text = render("kdump.conf.j2", role_vars("RedHat", kdump_compression=compression, kdump_dump_level=17,
                                             kdump_path="/srv/dumps"))
    assert "path /srv/dumps" in text
    assert f"core_collector makedumpfile {flag} --message-level 7 -d 17".replace("  ", " ") in \
        text.replace("  ", " ")


def test_redhat_vars_name_the_rhel_tools():
    v = role_vars("RedHat")
    assert v["__kdump_packages"] == ["kexec-tools"]
    assert v["__kdump_service"] == "kdump" and v["__kdump_config"] == "/etc/kdump.conf"


def test_debian_12_lacks_zstd_and_13_has_it():
    assert "zstd" not in role_vars("Debian")["__kdump_compressions"]
    v13 = role_vars("Debian")
    v13.update(yaml.safe_load((ROLE / "vars/Debian_13.yml").read_text()))
    assert "zstd" in v13["__kdump_compressions"]


@pytest.mark.parametrize("sysrq, want", [(1, "kernel.sysrq = 1"), (None, None)])
def test_sysctl_template(sysrq, want):
    text = render("sysctl.conf.j2", role_vars("Debian", kdump_sysrq=sysrq, kdump_panic_reboot_seconds=30))
    assert "kernel.panic_on_oops = 1" in text and "kernel.panic = 30" in text
    if want:
        assert want in text
    else:
        assert "kernel.sysrq" not in text
