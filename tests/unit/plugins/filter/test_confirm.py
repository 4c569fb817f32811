"""soak_confirm: the verdict of two kernels' soak records, with exact binomial figures checked by hand."""

from __future__ import annotations

import math

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lastwords.panic.plugins.filter.confirm import (
    FilterModule,
    lowest_rate,
    soak_book,
    soak_confirm,
    soak_verdicts,
    soak_with_verdicts,
)

OLD = {"kernel": "6.1.0-47-amd64", "rounds": 3, "panics": 3, "round_seconds": 600,
       "keys": ["null-pointer-dereference:lwtest_rx[lastwords_rxbug]:0d6c1a2b"]}


def new(rounds, panics=0, keys=()):
    return {"kernel": "6.1.0-56-amd64", "rounds": rounds, "panics": panics, "keys": list(keys)}


def test_lowest_rate_is_the_exact_one_sided_bound():
    assert lowest_rate(3, 3) == pytest.approx(0.05 ** (1 / 3))  # P(3 in 3) = p^3 = 0.05
    assert lowest_rate(1, 5) == pytest.approx(1 - 0.95 ** (1 / 5))  # P(at least 1 in 5) = 0.05
    p = lowest_rate(2, 4)
    assert 1 - (1 - p) ** 4 - 4 * p * (1 - p) ** 3 == pytest.approx(0.05)  # P(at least 2 in 4) = 0.05
    assert lowest_rate(0, 10) == 0.0
    assert lowest_rate(3, 3, confidence=0.99) == pytest.approx(0.01 ** (1 / 3))


def test_the_issues_example_six_clean_rounds_after_three_panics_in_three():
    verdict = soak_confirm(OLD, new(6))
    assert verdict["probability"] == pytest.approx((1 - 0.05 ** (1 / 3)) ** 6)  # 0.0635
    assert verdict["verdict"] == "not enough rounds"  # 0.063 > 0.05: six rounds do not say it at 95 %
    assert verdict["rounds_needed"] == 7
    assert verdict["text"].startswith("6.1.0-47-amd64: 3 panics in 3 rounds; 6.1.0-56-amd64: 0 in 6 rounds of 10 min; "
                                      "if 6.1.0-56-amd64 panicked at the lowest rate consistent with 6.1.0-47-amd64's "
                                      "record (95%: 0.37 per round), 0 in 6 would have happened with probability at "
                                      "most 0.063.")
    assert "7 clean rounds in all would say fixed with 95% confidence." in verdict["text"]


def test_enough_clean_rounds_say_fixed():
    verdict = soak_confirm(OLD, new(7))
    assert verdict["verdict"] == "fixed"
    assert verdict["probability"] == pytest.approx((1 - 0.05 ** (1 / 3)) ** 7) and verdict["probability"] < 0.05
    assert verdict["text"].endswith("at most 0.040. Fixed, with 95% confidence.")
    assert soak_confirm(OLD, new(7), confidence=0.99)["verdict"] == "not enough rounds"


def test_a_rare_panic_needs_many_rounds_and_says_how_many():
    verdict = soak_confirm(dict(OLD, rounds=5, panics=1), new(10))
    rate = 1 - 0.95 ** 0.2
    assert verdict["verdict"] == "not enough rounds"
    assert verdict["rounds_needed"] == math.ceil(math.log(0.05) / math.log(1 - rate))  # 293


def test_a_candidate_that_panics_is_not_fixed_and_says_whether_it_is_the_same_bug():
    same = soak_confirm(OLD, new(6, 1, OLD["keys"]))
    assert same["verdict"] == "not fixed" and same["same_bug"] is True
    assert same["text"].endswith("6.1.0-56-amd64 still panics under this load, with the same signature.")
    other = soak_confirm(OLD, new(6, 2, ["soft-lockup:queued_spin_lock_slowpath:e3626074"]))
    assert other["verdict"] == "not fixed" and other["same_bug"] is False
    assert "(with another signature)" in other["text"]


def test_a_trigger_that_never_reproduced_concludes_nothing():
    verdict = soak_confirm(dict(OLD, panics=0), new(20))
    assert verdict["verdict"] == "never reproduced" and verdict["probability"] is None
    assert "find a trigger that reproduces the panic first" in verdict["text"]


@pytest.mark.parametrize("before,after,confidence,message", [
    ("3 of 3", new(6), 0.95, "before must be a kernel's soak record"),
    (OLD, dict(new(6), rounds="six"), 0.95, "after needs whole numbers"),
    (OLD, new(0), 0.95, "rounds at least 1"),
    (dict(OLD, panics=4), new(6), 0.95, "panics must be 0..rounds"),
    (OLD, new(6), 1.0, "confidence must be at least 0.5 and below 1"),
    (OLD, new(6), "sure", "confidence must be a number"),
])
def test_bad_records_name_what_is_wrong(before, after, confidence, message):
    with pytest.raises(AnsibleFilterError, match=message):
        soak_confirm(before, after, confidence)


def test_registered():
    assert FilterModule().filters() == {"soak_confirm": soak_confirm, "soak_book": soak_book,
                                        "soak_verdicts": soak_verdicts, "soak_with_verdicts": soak_with_verdicts}


def test_the_book_adds_each_runs_record_per_host_and_kernel():
    first = {"web1": {"kernel": "6.1.0-47-amd64", "rounds": 2, "panics": 2, "round_seconds": 600,
                      "panic_seconds": [41.5, 38.0], "keys": ["k1"]},
             "nas": {"kernel": None, "rounds": 1, "panics": 1}}
    book = soak_book(None, first)
    assert book == {"web1": {"6.1.0-47-amd64": {"kernel": "6.1.0-47-amd64", "rounds": 2, "panics": 2,
                                                "panic_seconds": [41.5, 38.0], "keys": ["k1"], "round_seconds": 600}}}
    again = soak_book(book, {"web1": dict(first["web1"], rounds=1, panics=1, panic_seconds=[40.2], keys=["k1"])})
    assert again["web1"]["6.1.0-47-amd64"]["rounds"] == 3 and again["web1"]["6.1.0-47-amd64"]["panics"] == 3
    assert again["web1"]["6.1.0-47-amd64"]["panic_seconds"] == [41.5, 38.0, 40.2]
    assert book["web1"]["6.1.0-47-amd64"]["rounds"] == 2  # the book given is not changed
    later = soak_book(again, {"web1": {"kernel": "6.1.0-56-amd64", "rounds": 7, "panics": 0, "round_seconds": 600}})
    verdicts = soak_verdicts(later, "6.1.0-47-amd64", {"web1": "6.1.0-56-amd64", "nas": "6.1.0-56-amd64"})
    assert list(verdicts) == ["web1"] and verdicts["web1"]["verdict"] == "fixed"
    assert soak_verdicts(later, "6.1.0-47-amd64", {"web1": "6.1.0-47-amd64"}) == {}
    with pytest.raises(AnsibleFilterError):
        soak_book([], first)


def test_the_verdicts_join_the_soak_report():
    report = {"text": ["lastwords soak: 0 of 1 hosts PASSED"], "markdown": "# lastwords soak\n"}
    book = {"web1": {"6.1.0-47-amd64": OLD, "6.1.0-56-amd64": new(7)}}
    verdicts = soak_verdicts(book, "6.1.0-47-amd64", {"web1": {"kernel": "6.1.0-56-amd64", "rounds": 7}})
    out = soak_with_verdicts(report, verdicts, "6.1.0-47-amd64")
    assert out["text"][1].startswith("  web1: FIXED: 6.1.0-47-amd64: 3 panics in 3 rounds; 6.1.0-56-amd64: 0 in 7")
    assert "## Fixed?" in out["markdown"] and out["verdicts"] == verdicts
    assert soak_with_verdicts(report, {}, "6.1.0-47-amd64")["text"][1] == (
        "  no host has records on both 6.1.0-47-amd64 and the kernel it runs now: nothing to compare")
    assert soak_with_verdicts(report, {}) == dict(report, verdicts={})


def test_a_round_of_seconds_says_seconds():
    verdict = soak_confirm(dict(OLD, round_seconds=20), new(7))
    assert "6.1.0-56-amd64: 0 in 7 rounds of 20 s;" in verdict["text"]
    assert " of load;" in soak_confirm(dict(OLD, round_seconds=None), new(7))["text"]
