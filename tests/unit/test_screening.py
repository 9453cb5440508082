import pytest

from services.booking.screening import AnswersInvalid, assess, questionnaire

ALL_NO = {q.id: False for q in questionnaire().questions}


def answers(**yes) -> dict:
    return {**ALL_NO, **yes}


def test_all_clear():
    result = assess(ALL_NO)
    assert result.outcome == "clear" and not result.stops_booking and result.advice == ()


@pytest.mark.parametrize("sign", ["bladder_bowel", "saddle_numbness", "both_legs_weakness"])
def test_cauda_equina_signs_stop_the_booking_with_a_and_e_advice(sign):
    result = assess(answers(**{sign: True}))
    assert result.outcome == "emergency" and result.stops_booking
    assert "A&E now" in result.advice[0]


@pytest.mark.parametrize(
    "sign, words", [("calf_swelling", "deep vein thrombosis"), ("acute_inflammation", "physiotherapist")]
)
def test_dvt_or_inflammation_stop_it_with_gp_advice(sign, words):
    result = assess(answers(**{sign: True}))
    assert result.outcome == "see_doctor" and result.stops_booking
    assert words in result.advice[0] and "GP" in result.advice[0]


def test_pain_in_both_legs_is_flagged_not_stopped():
    result = assess(answers(pain_both_legs=True, worsening_numbness=True))
    assert result.outcome == "flag" and not result.stops_booking
    assert result.flags == ("pain_both_legs", "worsening_numbness")


def test_the_worst_outcome_wins_and_all_advice_is_given():
    result = assess(answers(calf_swelling=True, saddle_numbness=True, pain_both_legs=True))
    assert result.outcome == "emergency"
    assert len(result.advice) == 3 and "A&E" in result.advice[0]


def test_every_question_must_be_answered_and_no_others():
    partial = dict(ALL_NO)
    partial.pop("calf_swelling")
    with pytest.raises(AnswersInvalid) as bad:
        assess({**partial, "favourite_colour": True})
    assert bad.value.missing == ["calf_swelling"] and bad.value.unknown == ["favourite_colour"]
