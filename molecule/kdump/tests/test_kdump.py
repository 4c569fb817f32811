"""kdump scenario: armed through GRUB (phase_kdump), then a real panic on both hosts whose vmcore reads back, then
kdump switched off and on again."""

import lwtest

# collected in this order
from phase_kdump import (  # noqa: F401  # pylint: disable=unused-import
    HOSTS,
    check_newest_dump,
    check_toggle,
    test_crash_kernel_is_loaded_and_armed,
    test_crashkernel_comes_from_grub,
    test_kdump_bad_input_fails_before_any_change,
    test_kdump_tools_config_edited_by_key,
    testinfra_hosts,
    toggle,
)


def test_a_real_panic_comes_back_on_its_own():
    res = lwtest.playbook(lwtest.SCENARIO_DIR / "panic.yml", timeout=1800)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]


def test_the_panic_left_a_vmcore_that_reads_back():
    for name in HOSTS:  # lwtest.host, not the fixture: this must run after the panic (lwtest.host says why)
        took = (lwtest.EPHEMERAL / f"panic-{name}.txt").read_text().split()[1]
        lwtest.panic_proven(name, check_newest_dump(lwtest.host(name), took, refilter=name == HOSTS[0]))


def test_kdump_off_and_on_again():
    check_toggle(toggle())
