"""Fixtures for the module_utils tests that need a real AnsibleModule (fail_json, atomic_move, check mode)."""

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def module():
    with patch_module_args({}):
        yield AnsibleModule(argument_spec={})
