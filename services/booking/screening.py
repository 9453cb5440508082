"""Pre-treatment health screening. The questions and what each answer means live in screening.json
(clinical content, reviewed as data); this module only evaluates answers against it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Worst first: the outcome of a screening is the most serious rule that fires.
SEVERITY = ("emergency", "see_doctor", "flag", "clear")
STOPS_BOOKING = frozenset({"emergency", "see_doctor"})


@dataclass(frozen=True)
class Question:
    id: str
    text: str


@dataclass(frozen=True)
class Rule:
    when_any: tuple[str, ...]
    outcome: str
    advice: str


@dataclass(frozen=True)
class Questionnaire:
    version: int
    intro: str
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class Assessment:
    outcome: str  # one of SEVERITY
    advice: tuple[str, ...]  # for the customer, worst first
    flags: tuple[str, ...]  # question ids answered "yes" that a rule cares about

    @property
    def stops_booking(self) -> bool:
        return self.outcome in STOPS_BOOKING


class AnswersInvalid(ValueError):
    def __init__(self, missing: list[str], unknown: list[str]):
        super().__init__("screening answers incomplete or unknown")
        self.missing = missing
        self.unknown = unknown


@lru_cache(maxsize=1)
def questionnaire() -> Questionnaire:
    raw = json.loads((Path(__file__).parent / "screening.json").read_text())
    questions = tuple(Question(q["id"], q["text"]) for q in raw["questions"])
    rules = tuple(Rule(tuple(r["when_any"]), r["outcome"], r["advice"]) for r in raw["rules"])
    known = {q.id for q in questions}
    for rule in rules:
        if rule.outcome not in SEVERITY or not set(rule.when_any) <= known:
            raise ValueError(f"screening.json: bad rule {rule}")
    return Questionnaire(raw["version"], raw["intro"], questions, rules)


def assess(answers: dict[str, bool], form: Questionnaire | None = None) -> Assessment:
    """Every question must be answered yes (True) or no (False)."""
    form = form or questionnaire()
    ids = [q.id for q in form.questions]
    missing = [i for i in ids if i not in answers]
    unknown = sorted(set(answers) - set(ids))
    if missing or unknown:
        raise AnswersInvalid(missing, unknown)
    fired = [r for r in form.rules if any(answers[q] for q in r.when_any)]
    fired.sort(key=lambda r: SEVERITY.index(r.outcome))
    outcome = fired[0].outcome if fired else "clear"
    flags = tuple(dict.fromkeys(q for r in fired for q in r.when_any if answers[q]))
    return Assessment(outcome, tuple(r.advice for r in fired), flags)
