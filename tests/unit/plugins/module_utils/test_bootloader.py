"""Unit tests for plugins/module_utils/_bootloader.py: detection on a temp tree, grub-mkconfig staged for real."""

import os

import pytest

from ansible_collections.lastwords.panic.plugins.module_utils._bootloader import detect, grub_mkconfig

MENU = "menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-x' {\n}\n"


def fake_mkconfig(tmp_path, body):
    """A grub-mkconfig that takes -o FILE like the real one; ``body`` is sh run with $out set."""
    script = tmp_path / "grub-mkconfig"
    script.write_text('#!/bin/sh\n[ "$1" = -o ] || exit 64\nout=$2\n[ "$LC_ALL" = C ] || exit 65\n' + body)
    script.chmod(0o755)
    return str(script)


def test_auto_finds_grubby_under_the_root_and_otherwise_grub(tmp_path):
    with pytest.raises(ValueError, match="no boot loader this collection knows was found"):
        detect(str(tmp_path))  # nothing there: an error naming what was looked for, never a guess
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/default/grub").write_text("GRUB_DEFAULT=0\n")
    assert detect(str(tmp_path)) == "grub-debian"
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/grubby").write_text("")
    assert detect(str(tmp_path)) == "grubby"
    assert detect(str(tmp_path), "grub-debian") == "grub-debian"  # what the user says wins


def test_grub_mkconfig_moves_the_new_menu_in_place(tmp_path, module):
    (tmp_path / "boot/grub").mkdir(parents=True)
    (tmp_path / "boot/grub/grub.cfg").write_text("old\n")
    (tmp_path / "menu").write_text(MENU)
    binary = fake_mkconfig(tmp_path, 'cat "%s" > "$out"\n' % (tmp_path / "menu"))
    assert grub_mkconfig(module, str(tmp_path), binary, "/boot/grub/grub.cfg") is None
    assert (tmp_path / "boot/grub/grub.cfg").read_text() == MENU
    assert not (tmp_path / "boot/grub/grub.cfg.new").exists()


@pytest.mark.parametrize("body, reason", [
    ("echo 'syntax error in 40_custom' >&2; echo half > \"$out\"; exit 2\n", "exited with 2"),
    ("exit 0\n", "exited with 0 but wrote no "),
    (": > \"$out\"\n", "exited with 0 but wrote no "),
])
def test_a_failed_grub_mkconfig_leaves_the_old_menu_and_no_staged_file(tmp_path, module, body, reason):
    (tmp_path / "boot/grub").mkdir(parents=True)
    (tmp_path / "boot/grub/grub.cfg").write_text("old\n")
    rc, _out, err, why = grub_mkconfig(module, str(tmp_path), fake_mkconfig(tmp_path, body), "/boot/grub/grub.cfg")
    assert why.startswith(reason)
    assert rc == (2 if "exit 2" in body else 0)
    assert ("syntax error" in err) == ("exit 2" in body)
    assert (tmp_path / "boot/grub/grub.cfg").read_text() == "old\n"
    assert sorted(os.listdir(tmp_path / "boot/grub")) == ["grub.cfg"]
