"""A/B arithmetic: buckets fill evenly, variants alternate, ties go to the first variant."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.broadcasts.ab import VariantResult, bucket_of, in_sample, pick_winner, variant_for
from engine.broadcasts.spec import parse_broadcast


@pytest.mark.parametrize("first", [1, 101, 98_765])
def test_any_hundred_consecutive_ids_fill_each_bucket_once(first: int) -> None:
    buckets = Counter(bucket_of(i) for i in range(first, first + 100))
    sample = [i for i in range(first, first + 100) if in_sample(bucket_of(i), 20)]
    assert set(buckets.values()) == {1}
    assert Counter(variant_for(bucket_of(i), ["A", "B"]) for i in sample) == {"A": 10, "B": 10}


@pytest.mark.parametrize(
    ("results", "winner"),
    [
        ({"A": VariantResult(10, 3), "B": VariantResult(10, 5)}, "B"),
        ({"A": VariantResult(10, 4), "B": VariantResult(10, 4)}, "A"),  # a tie goes to A
        ({"A": VariantResult(0, 0), "B": VariantResult(0, 0)}, "A"),  # nothing sent
        ({"A": VariantResult(10, 2), "B": VariantResult(9, 2), "C": VariantResult(8, 2)}, "C"),
    ],
)
def test_the_best_rate_wins(results: dict[str, VariantResult], winner: str) -> None:
    assert pick_winner(results, list(results)) == winner


def test_a_bad_file_names_each_place() -> None:
    source = (
        "id: spring\nname: 春のセール\ntemplate: t\ntopic: news\n"
        "audience: {segment: a, tag: b}\nab:\n  variants: [{name: A}, {name: B}]\n"
        "  sample: 120%\n  metric: views\n"
    )
    spec, problems = parse_broadcast(
        source, "journeys/broadcasts/spring.yaml", expected_id="spring"
    )
    assert spec is None
    assert [p.format().split(" ", 1)[0] for p in problems] == [
        "journeys/broadcasts/spring.yaml:5:11:",
        "journeys/broadcasts/spring.yaml:8:11:",
        "journeys/broadcasts/spring.yaml:9:11:",
    ]
    assert "segment, tag or list" in problems[0].message
