"""e2e, phase 6: the kernel of the first host rolled back and forward, and a trial that panics at boot
(phase_rollback), while kdump is switched off and on again on the other host (phase_kdump's toggle, without its
reboots): the two phases touch different hosts, so they run at the same time. Then every host is armed again.

pytest runs a module's tests in the order their names enter it: the toggle starts first, the rollback tests
follow (imported), the toggle's result and the final readiness come last.
"""

import lwtest
import phase_kdump
import phase_rollback
from phase_readiness import readiness

OTHERS = [h for h in lwtest.hosts("panic_capture") if h != phase_rollback.HOST]
_TOGGLE: list[lwtest.Background] = []


def test_kdump_toggle_starts_on_the_other_host():
    assert OTHERS, "e2e needs a second capture host for the toggle"
    # without the role's reboots: under TCG they cost this phase minutes on both hosts' shared CPUs (the kdump
    # scenario runs the toggle with them)
    _TOGGLE.append(phase_kdump.toggle(*OTHERS, reboot=False))


from phase_rollback import *  # noqa: E402,F403


def test_kdump_off_and_on_again_on_the_other_host():
    assert _TOGGLE, "the toggle did not start"
    phase_kdump.check_toggle(_TOGGLE[0], *OTHERS, reboot=False)


def test_every_host_is_armed_at_the_end():
    rc, out, report, _took = readiness()
    assert rc == 0 and report["all_armed"], out[-3000:]
