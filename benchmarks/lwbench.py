"""What every benchmark under benchmarks/ starts with, run as the README shows it (`benchmarks/<name>/run`):
the repository's .venv when the Python that runs it has no Ansible, then tests/lab (the receiver's rsyslog
harness, the abuse cases) importable and the collection found by name as on a controller."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


def use_repo_python():
    """Re-run the benchmark with .venv's Python unless this one has Ansible; then make the repository importable.

    A venv's python is a link to its base Python, so the two resolve to the same file: which one runs is told by
    ``sys.prefix`` (the venv's directory when it is the venv's)."""
    try:
        import ansible  # noqa: F401  # pylint: disable=unused-import
    except ImportError:
        if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != VENV_PYTHON.parents[1].resolve():
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])  # noqa: S606 (argv list, no shell)
        raise SystemExit(f"{sys.argv[0]}: needs Ansible: run `make setup` (it makes {VENV_PYTHON})") from None
    sys.path.insert(0, str(REPO / "tests" / "lab"))
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    _AnsibleCollectionFinder(paths=[str(REPO / ".collections")])._install()
