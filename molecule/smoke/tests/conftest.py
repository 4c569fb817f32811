import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources" / "tests"))

from lwtest import phase_timer  # noqa: F401  (autouse: each test module is a timed phase)
