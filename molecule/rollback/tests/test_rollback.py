"""rollback scenario: the rollback phase (molecule/resources/tests/phase_rollback.py) on a lab armed by site.yml."""

from phase_rollback import *  # noqa: F403  # pylint: disable=wildcard-import,unused-wildcard-import
