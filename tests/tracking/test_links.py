"""Link rewriting at send time: tracked URLs, stored targets with UTM, pixel and decoy."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from engine.email.links import DECOY, Campaign, track, with_utm
from engine.tracking.tokens import read_click_token, read_open_token

KEYS = [b"k" * 32]
HTML = """<html><body><div>
<a href="https://example.jp/seminar?id=7&amp;lang=ja">資料を見る</a>
<a class="btn" href='https://example.jp/seminar?id=7&amp;lang=ja'>もう一度</a>
<a href="https://shop.example.jp/?utm_source=newsletter">ショップ</a>
<a href="mailto:support@example.jp">お問い合わせ</a>
<a href="https://mail.example.jp/u/TOKEN">配信停止</a>
<a data-nurture-track="off" href="https://example.jp/private">追跡しない</a>
</div></body></html>"""
TEXT = "資料を見る (https://example.jp/seminar?id=7&lang=ja)\n配信停止: https://mail.example.jp/u/TOKEN"


def tracked():
    return track(
        HTML,
        TEXT,
        uid="AbCdEfGhIjKlMnOp",
        public_url="https://mail.example.jp/",
        keys=KEYS,
        campaign=Campaign("seminar-followup-ja", "materials"),
        untracked=["https://mail.example.jp/u/TOKEN"],
    )


def test_each_http_link_gets_its_own_signed_click_url_and_stored_target():
    result = tracked()
    assert set(result.links) == {DECOY, 1, 2, 3}
    assert result.links[1] == result.links[2]  # same target, two positions
    target = urlsplit(result.links[1])
    query = parse_qs(target.query)
    assert query["id"] == ["7"] and query["lang"] == ["ja"]
    assert query["utm_medium"] == ["email"] and query["utm_campaign"] == ["seminar-followup-ja"]
    assert query["utm_content"] == ["materials"]
    assert result.links[3] == "https://shop.example.jp/?utm_source=newsletter"
    tokens = [part.split('"')[0].split("'")[0] for part in result.html.split("/t/c/")[1:]]
    refs = [read_click_token(t, KEYS) for t in tokens]
    assert [r.position for r in refs if r] == [0, 1, 2, 3]
    assert all(r is not None and r.uid == "AbCdEfGhIjKlMnOp" for r in refs)


def test_mailto_unsubscribe_and_opted_out_links_stay_as_they_are():
    html = tracked().html
    assert 'href="mailto:support@example.jp"' in html
    assert 'href="https://mail.example.jp/u/TOKEN"' in html
    assert 'href="https://example.jp/private"' in html
    assert "example.jp/seminar" not in html  # no target appears in the mail


def test_pixel_before_body_end_decoy_hidden_and_text_part_tracked():
    result = tracked()
    pixel = result.html.split('src="https://mail.example.jp/t/o/')[1].split(".gif")[0]
    assert read_open_token(pixel, KEYS) == "AbCdEfGhIjKlMnOp"
    assert result.html.index("/t/o/") < result.html.index("</body>")
    assert 'aria-hidden="true"' in result.html and "display:none" in result.html
    assert "https://mail.example.jp/t/c/" in result.text
    assert "example.jp/seminar" not in result.text
    assert "https://mail.example.jp/u/TOKEN" in result.text


def test_utm_parameters_are_added_once_and_never_override_the_authors():
    campaign = Campaign("welcome", "step-1")
    assert "utm_source=nurture" in with_utm("https://example.jp/a#top", campaign)
    assert with_utm("https://example.jp/a#top", campaign).endswith("#top")
    own = "https://example.jp/?utm_campaign=winter"
    assert with_utm(own, campaign) == own
