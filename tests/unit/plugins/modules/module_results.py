"""Helpers for reading what a module printed, shared by the module tests (this directory is on sys.path)."""


def warnings_of(result):
    """Warning texts; ansible-core 2.19 returns them as {'event': {'msg': ...}} summaries, older ones as strings."""
    return [w if isinstance(w, str) else w.get('event', {}).get('msg', '') for w in result.get('warnings', [])]
