"""The late-day rule (grader.policy.charge_late_days and Policy.extended), on plain values: no database.

The rule, as the README states it: assignments are charged in the order of the student's own deadlines; a
submission's late days are the started days after that deadline; the counted submission is chosen per
assignment with the free days still left, its days are covered up to what is left and only the rest are
penalised; only the counted submission spends days; the hard deadline still closes submissions.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from grader.policy import Attempt, Policy, charge_late_days, count

D = datetime(2027, 4, 19, 23, 59, tzinfo=timezone.utc)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def best(deadline: datetime | None = D, per_day: float = 0.1, hard: datetime | None = None) -> Policy:
    return Policy(deadline=deadline, hard_deadline=hard, policy="best", late_penalty_per_day=per_day)


def last(deadline: datetime | None = D, per_day: float = 0.1) -> Policy:
    return Policy(deadline=deadline, policy="last", late_penalty_per_day=per_day)


def tried(*items: tuple[timedelta, float], start: int = 1) -> list[Attempt]:
    """Attempts at the deadline + offset, oldest first, numbered from ``start``."""
    return [Attempt(start + i, D + offset, score) for i, (offset, score) in enumerate(items)]


@pytest.mark.parametrize("offset, days", [
    (-DAY, 0), (timedelta(0), 0), (SECOND, 1), (DAY - SECOND, 1), (DAY, 1), (DAY + SECOND, 2), (3 * DAY, 3),
])
def test_late_days_are_started_days_after_the_deadline(offset, days):
    assert best().late_days(D + offset) == days


def test_exactly_at_the_deadline_spends_nothing_and_one_second_late_spends_a_whole_day():
    on_time = count(best(), tried((timedelta(0), 30.0)), days_left=3)
    assert (on_time.late_days, on_time.late_days_used, on_time.score) == (0, 0, 30.0)
    late = count(best(), tried((SECOND, 30.0)), days_left=3)
    assert (late.late_days, late.late_days_used, late.penalized_days, late.score) == (1, 1, 0, 30.0)


def test_zero_budget_is_the_plain_late_penalty():
    # 30 h late = 2 started days at 25% each: 35 * 0.5.
    counted = count(best(per_day=0.25), tried((timedelta(hours=30), 35.0)), days_left=0)
    assert (counted.score, counted.late_days, counted.late_days_used) == (17.5, 2, 0)
    book, used = charge_late_days([("svm", best(per_day=0.25), tried((timedelta(hours=30), 35.0)))], 0)
    assert book["svm"].score == 17.5 and used == 0


def test_the_budget_covers_whole_days_and_the_penalty_applies_only_beyond():
    counted = count(best(per_day=0.1), tried((timedelta(hours=50), 30.0)), days_left=2)  # 3 days late, 2 left
    assert (counted.late_days, counted.late_days_used, counted.penalized_days) == (3, 2, 1)
    assert counted.score == pytest.approx(27.0)  # one day at -10%
    assert counted.raw_score == 30.0


def test_the_penalty_never_goes_below_zero():
    counted = count(best(per_day=0.5), tried((5 * DAY, 30.0)), days_left=1)  # 4 penalised days at -50%
    assert counted.score == 0.0 and counted.late_days_used == 1


def test_assignments_are_charged_in_deadline_order_and_the_budget_runs_out_mid_assignment():
    first, second = best(D), best(D + 7 * DAY)
    term = [  # given in the wrong order on purpose
        ("softmax", second, [Attempt(2, D + 7 * DAY + 2 * DAY, 35.0)]),  # 2 days late
        ("svm", first, [Attempt(1, D + 2 * DAY, 30.0)]),  # 2 days late
    ]
    counted, used = charge_late_days(term, 3)
    assert used == 3
    assert (counted["svm"].late_days_used, counted["svm"].score) == (2, 30.0)  # earlier deadline: covered
    # the budget runs out in the middle of the second: 1 free day, 1 day at -10%
    assert (counted["softmax"].late_days_used, counted["softmax"].penalized_days) == (1, 1)
    assert counted["softmax"].score == pytest.approx(31.5)


def test_a_submission_that_does_not_count_spends_no_late_day():
    # best: an on-time 30 and a 3-days-late 30; the late one is worth no more, so it is not chosen.
    svm = tried((-DAY, 30.0), (3 * DAY, 30.0))
    softmax = [Attempt(9, D + 7 * DAY + 3 * DAY, 35.0)]  # 3 days late on the later assignment
    counted, used = charge_late_days([("svm", best(D), svm), ("softmax", best(D + 7 * DAY), softmax)], 3)
    assert counted["svm"].submission_id == 1 and counted["svm"].late_days_used == 0
    assert counted["softmax"].late_days_used == 3 and counted["softmax"].score == 35.0 and used == 3


def test_best_with_a_budget_counts_a_better_late_submission_and_charges_its_days():
    attempts = tried((-DAY, 30.0), (2 * DAY, 35.0))
    with_budget = count(best(), attempts, days_left=2)
    assert (with_budget.submission_id, with_budget.score, with_budget.late_days_used) == (2, 35.0, 2)
    # without days left the late one is worth 35 * 0.8 = 28 < 30: the on-time one counts, nothing spent
    without = count(best(), attempts, days_left=0)
    assert (without.submission_id, without.score, without.late_days_used) == (1, 30.0, 0)


def test_last_counts_the_latest_graded_submission_and_charges_its_days():
    attempts = tried((-DAY, 35.0), (DAY + SECOND, 20.0))
    counted = count(last(), attempts, days_left=5)
    assert (counted.submission_id, counted.score, counted.late_days, counted.late_days_used) == (2, 20.0, 2, 2)


def test_no_deadline_is_never_late_and_is_charged_last():
    counted, used = charge_late_days([
        ("two_layer_net", best(None), [Attempt(1, D + 100 * DAY, 30.0)]),
        ("svm", best(D), [Attempt(2, D + DAY, 30.0)]),
    ], 1)
    assert counted["two_layer_net"].late_days == 0 and counted["two_layer_net"].score == 30.0
    assert counted["svm"].late_days_used == 1 and used == 1


def test_no_graded_submission_counts_nothing_and_spends_nothing():
    counted, used = charge_late_days([("svm", best(), [])], 3)
    assert counted == {"svm": None} and used == 0


def test_an_extension_moves_the_deadline_the_late_days_count_from():
    extended = best(D, hard=D + 2 * DAY).extended(D + 3 * DAY)
    assert extended.deadline == D + 3 * DAY
    assert extended.hard_deadline == D + 3 * DAY  # the course's hard deadline, but never before their own
    # 4 days after the course's deadline is 1 day after the student's: one late day, covered by the budget
    counted = count(extended, [Attempt(1, D + 4 * DAY, 30.0)], days_left=1)
    assert (counted.late_days, counted.late_days_used, counted.score) == (1, 1, 30.0)
    # the extension also changes the deadline order
    other = best(D + 2 * DAY)
    counted, _ = charge_late_days([("svm", extended, [Attempt(1, D + 4 * DAY, 30.0)]),
                                   ("softmax", other, [Attempt(2, D + 3 * DAY, 35.0)])], 1)
    assert counted["softmax"].late_days_used == 1 and counted["svm"].late_days_used == 0


def test_the_hard_deadline_still_closes_and_an_extension_can_move_it():
    policy = best(D, hard=D + 2 * DAY)
    assert not policy.closed(D + 2 * DAY) and policy.closed(D + 2 * DAY + SECOND)
    own = policy.extended(D + DAY, D + 5 * DAY)
    assert own.hard_deadline == D + 5 * DAY and not own.closed(D + 4 * DAY) and own.closed(D + 5 * DAY + SECOND)
    # no hard deadline of its own: the course's one stays (it is after the student's deadline)
    assert policy.extended(D + DAY).hard_deadline == D + 2 * DAY
    # and without any hard deadline, none appears
    assert best(D).extended(D + DAY).hard_deadline is None
