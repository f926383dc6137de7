"""Classification of opens and clicks from realistic request sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from engine.tracking.classify import BURST_WINDOW, Bursts, Click, classify_clicks, classify_open

SENT = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def at(seconds: float) -> datetime:
    return SENT + timedelta(seconds=seconds)


def test_apple_privacy_prefetch_then_the_person_opening_later():
    prefetch = classify_open(at(40), SENT, "17.58.101.0", "Mozilla/5.0")
    assert prefetch.classification == "machine"
    assert "Apple Mail Privacy Protection" in prefetch.reason
    # Same proxy network, any agent: still Apple's relay fetching, not a reader.
    assert classify_open(at(50), SENT, "17.58.101.0", IPHONE_MAIL).classification == "machine"
    later = classify_open(at(3 * 3600), SENT, "203.0.113.0", IPHONE_MAIL)
    assert (later.classification, later.reason) == ("human", "opened")


def test_gmail_proxy_fetches_when_the_person_opens_so_it_counts():
    assert classify_open(at(600), SENT, "66.249.84.0", GMAIL_PROXY).classification == "human"


def test_an_open_within_seconds_of_delivery_is_a_prefetch():
    verdict = classify_open(at(0.8), SENT, "198.51.100.0", CHROME)
    assert verdict.classification == "machine"
    assert "0.8s after delivery" in verdict.reason


def test_a_gateway_opening_and_a_script_are_machines():
    assert classify_open(at(60), SENT, None, "Mimecast/1.0").classification == "machine"
    assert classify_open(at(60), SENT, None, "python-requests/2.32").classification == "machine"


def test_a_scanner_burst_clicks_every_link_at_once():
    burst = [
        Click(at(30 + i * 0.2), position, "40.94.0.0", CHROME)
        for i, position in enumerate((1, 2, 3, 4))
    ]
    verdicts = classify_clicks(burst, SENT)
    assert {v.classification for v in verdicts} == {"scanner"}
    assert all("links clicked within 2s" in v.reason for v in verdicts)


def test_a_click_seconds_after_delivery_and_the_decoy_are_scanners():
    early = classify_clicks([Click(at(4), 1, None, CHROME)], SENT)[0]
    assert early.classification == "scanner" and "4.0s after delivery" in early.reason
    decoy = classify_clicks([Click(at(3600), 0, None, CHROME)], SENT)[0]
    assert (decoy.classification, decoy.reason) == ("scanner", "followed the hidden decoy link")
    agent = classify_clicks([Click(at(3600), 1, None, "Proofpoint URL Defense")], SENT)[0]
    assert agent.classification == "scanner"


def test_a_person_clicking_two_links_minutes_apart_is_human():
    first = Click(at(1800), 1, "203.0.113.0", CHROME)
    second = Click(at(1800 + 240), 2, "203.0.113.0", CHROME)
    assert [v.classification for v in classify_clicks([first], SENT)] == ["human"]
    # The second arrives in a later batch: the first is earlier context, still no burst.
    assert [v.classification for v in classify_clicks([second], SENT, [first])] == ["human"]


def test_a_burst_spanning_batches_is_seen_with_the_earlier_clicks():
    earlier = [Click(at(100), 1, None, CHROME), Click(at(100.5), 2, None, CHROME)]
    verdicts = classify_clicks([Click(at(101), 3, None, CHROME)], SENT, earlier)
    assert verdicts[0].classification == "scanner"


def test_the_same_link_clicked_twice_quickly_is_not_a_burst():
    double = [Click(at(900), 1, None, CHROME), Click(at(900.3), 1, None, CHROME)]
    assert [v.classification for v in classify_clicks(double, SENT)] == ["human", "human"]


@given(
    st.lists(st.tuples(st.integers(0, 20_000), st.integers(1, 5)), max_size=40),
    st.integers(0, 20_000),
)
def test_burst_size_counts_the_links_clicked_around_a_moment(hits, moment):
    clicks = [Click(at(ms / 1000), position, None, CHROME) for ms, position in hits]
    naive = len({c.position for c in clicks if abs(c.at - at(moment / 1000)) <= BURST_WINDOW})
    assert Bursts(clicks).size(at(moment / 1000)) == naive


def test_a_flood_of_clicks_on_one_link_is_classified_in_linear_time():
    flood = [Click(at(60 + i / 100), 1, "198.51.100.7", CHROME) for i in range(10_000)]
    verdicts = classify_clicks(flood, SENT)  # quadratic would take minutes
    assert {v.classification for v in verdicts} == {"human"}
