"""The boot-time apply script of roles/netconsole, run for real by /bin/sh on a configfs-shaped temp tree."""

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "roles/netconsole/files/lastwords-netconsole-apply"
UNSET = ".".join(["0"] * 4)  # what the kernel shows for an address not set yet
ATTRS = {"enabled": "0", "dev_name": "", "local_ip": UNSET, "local_port": "6665", "remote_ip": UNSET,
         "remote_port": "6666", "remote_mac": "ff:ff:ff:ff:ff:ff", "extended": "0"}
LINE = "lastwords0 eth1 10.77.0.21 6665 10.77.0.10 6666 52:54:00:77:00:01 0 0\n"


def run(tmp_path, conf_text, release_attr=False):
    root = tmp_path / "netconsole"
    target = root / "lastwords0"
    if not target.exists():
        target.mkdir(parents=True)
        for name, value in ATTRS.items():
            (target / name).write_text(value + "\n")
        if release_attr:
            (target / "release").write_text("0\n")
    conf = tmp_path / "netconsole.conf"
    conf.write_text("# name dev local_ip ...\n" + conf_text)
    res = subprocess.run(["sh", str(SCRIPT), str(conf)], capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LASTWORDS_NETCONSOLE_CONFIGFS": str(root)})
    values = {p.name: p.read_text().strip() for p in target.iterdir()}
    return res, values, target


def test_sets_up_a_target_and_enables_it(tmp_path):
    res, values, _ = run(tmp_path, LINE)
    assert res.returncode == 0, res.stderr
    assert values["enabled"] == "1"
    assert values["dev_name"] == "eth1" and values["remote_mac"] == "52:54:00:77:00:01"
    assert values["local_ip"] == "10.77.0.21" and values["remote_ip"] == "10.77.0.10"
    assert "enabled" in res.stdout


def test_second_run_writes_nothing(tmp_path):
    run(tmp_path, LINE)
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "netconsole/lastwords0").iterdir()}
    res, _, target = run(tmp_path, LINE)
    assert res.returncode == 0 and res.stdout == ""
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == stamp


def test_kernel_without_release_attribute_is_fine_unless_release_is_wanted(tmp_path):
    # Linux 6.1 has no 'release' attribute: release 0 must not break the target (it once left it disabled)
    res, values, _ = run(tmp_path, LINE)
    assert res.returncode == 0 and values["enabled"] == "1"
    res, values, _ = run(tmp_path, LINE.replace(" 0 0\n", " 1 1\n"))
    assert res.returncode == 1
    assert "no 'release' attribute" in res.stderr


@pytest.mark.parametrize("ext, rel", [("1", "1"), ("0", "0")])
def test_extended_and_release_where_supported(tmp_path, ext, rel):
    res, values, _ = run(tmp_path, LINE.replace(" 0 0\n", f" {ext} {rel}\n"), release_attr=True)
    assert res.returncode == 0, res.stderr
    assert (values["extended"], values["release"], values["enabled"]) == (ext, rel, "1")


def test_changed_receiver_is_rewritten(tmp_path):
    run(tmp_path, LINE)
    res, values, _ = run(tmp_path, LINE.replace("10.77.0.10", "10.77.0.11"))
    assert res.returncode == 0
    assert values["remote_ip"] == "10.77.0.11" and values["enabled"] == "1"
