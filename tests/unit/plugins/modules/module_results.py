"""Helpers for running a module and reading what it printed, shared by the module tests (this directory is on
sys.path)."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def module_runner(main, capsys):
    """``run(params, check=False, diff=False)``: the module's ``main`` run in-process, its JSON result returned."""
    def run(params, check=False, diff=False):
        args = dict(params, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                main()
        return json.loads(capsys.readouterr().out)
    return run


def warnings_of(result):
    """Warning texts; ansible-core 2.19 returns them as {'event': {'msg': ...}} summaries, older ones as strings."""
    return [w if isinstance(w, str) else w.get('event', {}).get('msg', '') for w in result.get('warnings', [])]
