# Copyright: lastwords developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only: Mitogen's linear strategy, found by its package name in the venv (no site-packages path in any
config). `make scenario` puts this directory on ANSIBLE_STRATEGY_PLUGINS; the collection itself never uses it."""

# Ansible loads the name StrategyModule from this file
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule  # noqa: F401  # pylint: disable=unused-import
