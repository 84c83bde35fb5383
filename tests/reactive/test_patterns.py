"""One topic grammar for the change log, SSE, WebSocket and every pattern filter (property tests).

The reference matcher below is written from the documented forms, independently of the code: a
pattern is split on ``/``; ``+`` matches exactly one segment, a final ``*`` one or more, anything
else itself.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex.errors import InvalidInput
from codex.reactive import TopicPattern
from codex.repositories.changelog import TOPIC_MAX_CHARS, validate_topic

ALPHABET = "ABCxyz019._:@=+-"
FIRST = "Axz09_@"
segment = st.builds(lambda a, b: a + b, st.sampled_from(FIRST), st.text(ALPHABET, max_size=6))
topics = st.lists(segment, min_size=1, max_size=5).map("/".join).filter(lambda t: len(t) <= TOPIC_MAX_CHARS)
pattern_parts = st.lists(st.one_of(segment, st.just("+")), min_size=0, max_size=4)
patterns = st.builds(
    lambda parts, star: "/".join([*parts, "*"] if star or not parts else parts), pattern_parts, st.booleans()
)
# anything at all, biased towards the characters that matter
junk = st.text(st.sampled_from([*ALPHABET, "/", "*", " ", "\x00", "\ud800", "é", "\n", "%"]), max_size=12)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(pattern: str, topic: str) -> bool:
    parts, want = pattern.split("/"), topic.split("/")
    if parts[-1] == "*":
        head = parts[:-1]
        return len(want) > len(head) and all(p in ("+", t) for p, t in zip(head, want, strict=False))
    return len(want) == len(parts) and all(p in ("+", t) for p, t in zip(parts, want, strict=True))


def accepted_topic(text: str) -> bool:
    try:
        validate_topic(text)
    except InvalidInput:
        return False
    return True


def accepted_pattern(text: str) -> TopicPattern | None:
    try:
        return TopicPattern.parse(text)
    except InvalidInput as exc:
        assert exc.details.get("field") == "topic"
        return None


@FAST
@given(topics)
def test_every_topic_is_an_exact_pattern_matching_only_itself(topic: str) -> None:
    assert accepted_topic(topic)
    pattern = TopicPattern.parse(topic)
    assert pattern.is_exact and pattern.matches(topic) and pattern.fixed == topic
    assert not pattern.matches(topic + "/x") and not pattern.matches(topic + "x")


@FAST
@given(patterns, topics)
def test_matching_follows_the_documented_forms(text: str, topic: str) -> None:
    pattern = TopicPattern.parse(text)
    assert pattern.matches(topic) is reference(text, topic)


@FAST
@given(patterns)
def test_a_pattern_matches_the_topics_it_describes(text: str) -> None:
    pattern = TopicPattern.parse(text)
    concrete = "/".join("x" if s == "+" else s for s in pattern.segments)
    example = concrete + "/tail" if pattern.prefix else concrete
    example = example.lstrip("/")
    assert accepted_topic(example) and pattern.matches(example)
    # the concrete part the bookkeeping records is always a valid topic (never refused later)
    assert pattern.fixed == "" or accepted_topic(pattern.fixed)


@FAST
@given(junk)
def test_topics_and_patterns_agree_on_any_text(text: str) -> None:
    """Parsing never raises anything but InvalidInput; a topic is a pattern; a wildcard-free pattern
    is a topic."""
    is_topic, pattern = accepted_topic(text), accepted_pattern(text)
    if is_topic:
        assert pattern is not None and pattern.is_exact
    if pattern is not None and pattern.is_exact:
        assert is_topic
    if pattern is not None:
        for segment_ in pattern.segments:
            assert segment_ == "+" or accepted_topic(segment_)


@pytest.mark.parametrize(
    "bad", ["-a", ".", "..", "a/.", "a/../b", "a/-x", "+x", "a+/*/b", "*/a", "a/**", "a b"]
)
def test_hostile_patterns_are_refused_by_both(bad: str) -> None:
    assert accepted_pattern(bad) is None
    assert not accepted_topic(bad)


@pytest.mark.parametrize("good", ["packages/@scope/pkg", "usage/api.mutations", "packages/c++", "_x/y:z"])
def test_topics_with_symbols_inside_segments(good: str) -> None:
    assert accepted_topic(good) and TopicPattern.parse(good).matches(good)
