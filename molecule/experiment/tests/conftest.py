import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources" / "tests"))

# autouse: each test module is a timed phase
from lwtest import phase_timer  # noqa: F401  # pylint: disable=unused-import
