"""Shared fixtures for the unit tests."""

from pathlib import Path

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

# Ansible's collection finder, installed before any test module imports ansible_collections.lastwords.panic (as
# ansible-core does on a controller and ansible-test does for unit tests): the plugin loader then finds the
# collection's filters and tests by name (lastwords.panic.ip_address), as the roles' templates call them.
_AnsibleCollectionFinder(paths=[str(Path(__file__).resolve().parents[2] / ".collections")])._install()


@pytest.fixture(autouse=True)
def _module_context(monkeypatch):
    """Run each test the way a module runs on a target host.

    Modules run in-process here. Once any controller code is imported (a filter plugin's test imports
    ansible.errors), ansible-core marks the process as the controller and sends module warnings to its display
    instead of the module result; and it keeps warnings in a process-wide dict that deduplicates them. Reset both,
    so a warning a test expects is neither rerouted nor swallowed by an earlier test's twin.
    """
    monkeypatch.setattr(ansible_internal, "is_controller", False)
    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
    yield
    ansible_warnings._global_warnings.clear()
    ansible_warnings._global_deprecations.clear()
