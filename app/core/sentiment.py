"""The sentiment of a customer's text: VADER's compound score, in [-1, 1].

VADER (Hutto & Gilbert, *VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
Media Text*, ICWSM 2014; ``vaderSentiment`` on PyPI, MIT) is a lexicon of ~7,500 words, emoticons
and slang rated by humans, plus rules for negation, degree words ("very"), "but", capitals and
exclamation marks. Its ``compound`` is the sum of the valences normalised to [-1, 1]
(``x / sqrt(x^2 + 15)``) and rounded to 4 decimals. VADER's own convention: positive at >= 0.05,
negative at <= -0.05, neutral between. docs/models.md has its accuracy on the paper's
human-rated sets (``make sentiment-data``, ``bench/sentiment_accuracy.py``).

Pure and deterministic: the score of a text is a function of the text alone (no randomness, no
clock, no state besides the lexicon, loaded once and cached). Text is cut to
``MAX_TEXT_CHARS`` before scoring: VADER's cost grows with the square of the length (measured
here: ~0.1 ms at 70 characters, ~1 ms at 1,000, 65 ms at 10,000, 6 s at 100,000), so an uncut
text would let one event stall a partition; and a compound over 1,000 characters is saturated
near +-1 anyway. 1,000 is also the length a transcript line is cut to (core/handoff.py).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: characters of a text that are scored (see the module doc)
MAX_TEXT_CHARS = 1_000
#: VADER's thresholds: compound >= POSITIVE is positive, <= NEGATIVE negative, neutral between
POSITIVE = 0.05
NEGATIVE = -0.05


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """VADER's analyzer, built once (it reads its lexicon from the package, ~10 ms)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def score(text: str) -> float:
    """VADER's compound score of ``text`` (its first ``MAX_TEXT_CHARS`` characters) in [-1, 1];
    0.0 for an empty or blank text."""
    text = text[:MAX_TEXT_CHARS]
    if not text.strip():
        return 0.0
    compound = float(analyzer().polarity_scores(text)["compound"])
    return min(1.0, max(-1.0, compound))


def label(compound: float) -> str:
    """``positive``, ``negative`` or ``neutral`` by VADER's thresholds."""
    if compound >= POSITIVE:
        return "positive"
    if compound <= NEGATIVE:
        return "negative"
    return "neutral"


# -- the profile's figures -----------------------------------------------------------------------

#: scored texts the profile's ``sentiment`` is the mean of
SENTIMENT_WINDOW = 5
#: the free-text properties scored, per event type (several in one event: one text, joined)
TEXT_PROPERTIES: dict[str, tuple[str, ...]] = {
    "ChatMessage": ("text",),  # the customer's lines only (``sender`` customer or absent)
    "TicketOpened": ("subject", "description"),
    "SurveyAnswered": ("comment",),
}
#: the surveys a profile keeps, with their score ranges (docs/events.md)
SURVEY_SCALES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
FEEDBACK_EVENTS = frozenset(TEXT_PROPERTIES)


def customer_text(etype: str, props: dict[str, Any]) -> str | None:
    """The customer's own words in an event (None: nothing to score)."""
    names = TEXT_PROPERTIES.get(etype)
    if names is None or not props:
        return None
    if etype == "ChatMessage":
        sender = props.get("sender")
        if isinstance(sender, str) and sender != "customer":
            return None  # an agent's or a bot's line (a non-string counts as absent, as in
            # core/handoff.py's transcript)
    parts = [v for v in (props.get(n) for n in names) if isinstance(v, str) and v.strip()]
    if not parts:
        return None
    return "\n".join(parts)


def _newer(a: list[Any], b: list[Any]) -> bool:
    """Whether ``[ts, event_id, ...]`` ``a`` comes after ``b`` in replay order."""
    return (a[0], a[1]) > (b[0], b[1])


def _keep(items: list[list[Any]], item: list[Any], cap: int) -> bool:
    """Insert ``item`` keeping the newest ``cap`` by (ts, event_id), one per event id; False
    when nothing changed (a repeat, or older than everything kept in a full window)."""
    if any(kept[1] == item[1] for kept in items):
        return False
    if len(items) >= cap and not _newer(item, items[0]):
        return False
    items.append(item)
    items.sort(key=lambda x: (x[0], x[1]))
    if len(items) > cap:
        del items[: len(items) - cap]
    return True


def _mean(window: list[list[Any]]) -> float:
    return round(sum(c for _, _, c in window) / len(window), 4)


def fold_feedback(profile: dict[str, Any], event: dict[str, Any]) -> None:
    """Fold a ``ChatMessage``, ``TicketOpened`` or ``SurveyAnswered`` into ``profile``:
    ``sentiment`` and its window when the event carries the customer's words, ``surveys`` for
    a valid survey answer. Nothing is added otherwise (docs/events.md, "Sentiment and surveys")."""
    etype = event["type"]
    props = event["properties"]
    ts = event["ts"]
    eid = event.get("event_id") or ""
    text = customer_text(etype, props)
    if text is not None:
        window = profile.get("sentiment_window")
        if window is None:
            window = profile["sentiment_window"] = []
        if _keep(window, [ts, eid, score(text)], SENTIMENT_WINDOW):
            profile["sentiment"] = _mean(window)
    if etype == "SurveyAnswered":
        survey = props.get("survey")
        value = props.get("score")
        scale = SURVEY_SCALES.get(survey) if isinstance(survey, str) else None
        if (
            scale is not None
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and scale[0] <= value <= scale[1]
        ):
            answer = {"score": value, "at": ts, "event_id": eid}
            surveys = profile.get("surveys")
            if surveys is None:
                surveys = profile["surveys"] = {}
            kept = surveys.get(survey)
            if kept is None or (ts, eid) >= (kept["at"], kept["event_id"]):
                surveys[survey] = answer  # replaced, never edited: snapshots share the dicts


def merge_feedback(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Profile merge (identity): the newest scored texts of both sides (the mean recomputed),
    and per survey the later answer: as if one profile had seen every event."""
    theirs = other.get("sentiment_window")
    if theirs:
        window = into.get("sentiment_window")
        if window is None:
            window = into["sentiment_window"] = []
        for item in theirs:
            _keep(window, list(item), SENTIMENT_WINDOW)
        into["sentiment"] = _mean(window)
    their_surveys = other.get("surveys")
    if their_surveys:
        surveys = into.get("surveys")
        if surveys is None:
            surveys = into["surveys"] = {}
        for survey, answer in their_surveys.items():
            kept = surveys.get(survey)
            if kept is None or (answer["at"], answer["event_id"]) > (kept["at"], kept["event_id"]):
                surveys[survey] = dict(answer)
