"""e2e, phase 6: the first host's kernel rolled back and forward (phase_rollback), while the other host runs a
trial kernel that panics at boot and then has its kdump switched off and on again (phase_kdump's toggle, without
its reboots). The two hosts' work touches different hosts, so it runs at the same time: the other host's runs go
in the background, one after the other. Then every host is armed again.

pytest runs a module's tests in the order their names enter it: the trial starts first, with the toggle queued
behind it (it starts the moment the trial's run ends, on its own); the first host's rollback and roll forward
follow, then the trial's result, the toggle's and the final readiness. The forward run used to wait for the
trial's result and the toggle for the forward run's start: under TCG the other host sat idle for minutes.
"""

import lwtest
import phase_kdump
import phase_rollback
from phase_readiness import readiness

OTHER = next((h for h in lwtest.hosts("panic_capture") if h != phase_rollback.HOST), None)
_TRIAL: dict = {}  # its run, and the host's kernels read before it (the host is down in the middle of it)
_TOGGLE: list[lwtest.Background] = []


def test_trial_starts_on_the_other_host_and_the_toggle_after_it():
    assert OTHER, "e2e needs a second capture host for its trial and toggle"
    old, new = phase_rollback.kernels(OTHER)
    _TRIAL.update(started=phase_rollback.start_trial(OTHER, old), old=old, new=new)
    # never beside the trial on the same host: it starts when the trial's run has ended. Without the role's
    # reboots: under TCG they cost this phase minutes on both hosts' shared CPUs (the kdump scenario runs the
    # toggle with them)
    _TOGGLE.append(phase_kdump.toggle(OTHER, reboot=False, after=_TRIAL["started"][0]))


# in this order: each one leaves the host as the next one needs it
test_rollback_to_previous = phase_rollback.test_rollback_to_previous
test_runs_the_previous_kernel_armed = phase_rollback.test_runs_the_previous_kernel_armed
test_second_run_changes_nothing = phase_rollback.test_second_run_changes_nothing
test_check_mode_says_what_it_would_do_and_changes_nothing = (
    phase_rollback.test_check_mode_says_what_it_would_do_and_changes_nothing)
test_kernel_bad_input_fails_before_any_change = phase_rollback.test_kernel_bad_input_fails_before_any_change
test_more_than_one_host_needs_the_switch = phase_rollback.test_more_than_one_host_needs_the_switch
test_roll_forward_again = phase_rollback.test_roll_forward_again
test_runs_the_newest_kernel_armed = phase_rollback.test_runs_the_newest_kernel_armed


def test_a_trial_kernel_that_panics_sends_the_other_host_back_by_itself():
    assert _TRIAL, "the trial did not start"
    phase_rollback.check_trial(_TRIAL["started"], OTHER, _TRIAL["old"], _TRIAL["new"])


def test_kdump_off_and_on_again_on_the_other_host():
    assert _TOGGLE, "the toggle did not start"
    phase_kdump.check_toggle(_TOGGLE[0], OTHER, reboot=False)


def test_every_host_is_armed_at_the_end():
    rc, out, report, _took = readiness()
    assert rc == 0 and report["all_armed"], out[-3000:]
