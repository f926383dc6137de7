"""Templates: front matter, layouts and partials, MJML with Jinja2 kept, the sandbox, filters."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.email.templates import (
    RenderLimits,
    Sender,
    SubjectSource,
    TemplateError,
    TemplateLimitExceeded,
    TemplateStore,
    template_context,
)
from engine.email.templates.filters import format_date, format_money
from engine.email.templates.mjml import MjmlError, compile_mjml
from engine.email.templates.source import compose, read_template, restore

ROOT = Path(__file__).resolve().parents[3]
SENDER = Sender("seminar@nurture.example.jp", "株式会社ナーチャー セミナー事務局")
YAMADA = {
    "email": "taro.yamada@example.jp",
    "first_name": "太郎",
    "last_name": "山田",
    "locale": "ja",
    "timezone": "Asia/Tokyo",
    "attributes": {"company": "山田商事株式会社", "plan": "プロ"},
}

LAYOUT = """\
<mjml>
  <mj-head><mj-title>{{ subject }}</mj-title><mj-preview>{{ preheader }}</mj-preview></mj-head>
  <mj-body>
    {% block content %}{% endblock %}
    {% include "partials/footer.mjml" %}
  </mj-body>
</mjml>
"""
FOOTER = """\
<mj-section><mj-column><mj-text>
  {{ sender.name }} {{ sender.address }} <a href="{{ unsubscribe_url }}">配信停止</a>
</mj-text></mj-column></mj-section>
"""
GREETING = """\
---
subject: "{{ contact.last_name }} {{ contact.first_name }} 様、ご案内です"
preheader: "{{ contact.company }} 様向けのご案内"
from: 株式会社ナーチャー <info@nurture.example.jp>
topic: newsletter
locale: ja
---
{% extends "layouts/base.mjml" %}
{% block content %}
<mj-section>
  <mj-column>
    <mj-text>{{ contact.last_name }} {{ contact.first_name }} 様</mj-text>
    <mj-text>{% if contact.attributes.plan == "プロ" and 1 < 2 %}プロプランをご利用中です。{% endif %}</mj-text>
    <mj-raw>{% for n in [1, 2] %}</mj-raw>
    <mj-text>項目{{ n }}</mj-text>
    <mj-raw>{% endfor %}</mj-raw>
    <mj-button href="{{ contact.attributes.url | default('https://example.jp/?a=1&b=2') }}">詳しく見る</mj-button>
  </mj-column>
</mj-section>
{% endblock %}
"""


def folder_with(tmp_path: Path, **templates: str) -> Path:
    folder = tmp_path / "templates"
    (folder / "layouts").mkdir(parents=True)
    (folder / "partials").mkdir()
    (folder / "layouts" / "base.mjml").write_text(LAYOUT, encoding="utf-8")
    (folder / "partials" / "footer.mjml").write_text(FOOTER, encoding="utf-8")
    for name, text in templates.items():
        (folder / f"{name.replace('_', '-')}.mjml").write_text(text, encoding="utf-8")
    return folder


def context(contact: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return template_context(
        contact or YAMADA,
        unsubscribe_url="https://mail.example.jp/u/token",
        sender=SENDER,
        postal_address="〒100-0001 東京都千代田区千代田1-1",
        **extra,
    )


def body_of(template: str) -> str:
    """A template whose content block is ``template`` (inside one section and column)."""
    return (
        '{% extends "layouts/base.mjml" %}{% block content %}<mj-section><mj-column>'
        f"{template}</mj-column></mj-section>{{% endblock %}}\n"
    )


def test_jinja_tags_survive_mjml_compilation(tmp_path: Path) -> None:
    """Every tag, even one MJML's parser would choke on (``1 < 2``), comes out intact."""
    body = (
        "<mj-text>{{ contact.first_name }} {% if 1 < 2 %}x{% endif %}</mj-text>"
        "<mj-button href=\"{{ contact.url | default('https://example.jp/?a=1&b=2') }}\">b</mj-button>"
    )
    folder = folder_with(tmp_path, t="---\nsubject: s\n---\n" + body_of(body))
    composition = compose(folder, read_template(folder, "t"))

    html = restore(compile_mjml(composition.mjml), composition.origins)

    for tag in (
        "{{ contact.first_name }}",
        "{% if 1 < 2 %}",
        "{% endif %}",
        "{{ contact.url | default('https://example.jp/?a=1&b=2') }}",
        "{{ sender.name }}",  # from the partial
        "{{ subject }}",  # from the layout's <mj-title>
    ):
        assert tag in html, tag
    with pytest.raises(MjmlError):  # unprotected, the same MJML does not compile
        compile_mjml(
            "<mjml><mj-body><mj-section><mj-column>"
            + body
            + "</mj-column></mj-section></mj-body></mjml>"
        )


def test_a_template_with_layout_partial_and_jinja_renders_per_contact(tmp_path: Path) -> None:
    store = TemplateStore(folder_with(tmp_path, greeting=GREETING))
    template = store.get("greeting")

    rendered = store.render(template, context())

    assert rendered.subject == "山田 太郎 様、ご案内です"
    assert rendered.preheader == "山田商事株式会社 様向けのご案内"
    assert "山田 太郎 様" in rendered.html
    assert "プロプランをご利用中です。" in rendered.html
    assert "項目1" in rendered.html and "項目2" in rendered.html
    assert "<title>山田 太郎 様、ご案内です</title>" in rendered.html
    assert 'href="https://example.jp/?a=1&amp;b=2"' in rendered.html
    assert "https://mail.example.jp/u/token" in rendered.html
    assert "〒100-0001 東京都千代田区千代田1-1" in rendered.html
    assert "{{" not in rendered.html and "{%" not in rendered.html
    assert template.front.sender == Sender("info@nurture.example.jp", "株式会社ナーチャー")
    assert (template.front.topic, template.front.locale) == ("newsletter", "ja")


def test_the_text_part_follows_the_html(tmp_path: Path) -> None:
    store = TemplateStore(folder_with(tmp_path, greeting=GREETING))
    text = store.render(store.get("greeting"), context()).text

    assert text.startswith("山田 太郎 様\n")
    assert "詳しく見る (https://example.jp/?a=1&b=2)" in text
    assert "配信停止 (https://mail.example.jp/u/token)" in text
    assert "山田商事株式会社 様向けのご案内" not in text  # the hidden preheader stays hidden
    assert "<" not in text and "{{" not in text


def test_contact_values_are_escaped_in_html_but_not_in_text(tmp_path: Path) -> None:
    store = TemplateStore(folder_with(tmp_path, greeting=GREETING))
    evil = {**YAMADA, "last_name": "<b>山田</b>"}
    rendered = store.render(store.get("greeting"), context(evil))
    assert "&lt;b&gt;山田&lt;/b&gt; 太郎 様" in rendered.html
    assert "<b>山田</b> 太郎 様" in rendered.text
    assert rendered.subject == "<b>山田</b> 太郎 様、ご案内です"


def test_a_journey_subject_wins_over_the_front_matter(tmp_path: Path) -> None:
    store = TemplateStore(folder_with(tmp_path, greeting=GREETING))
    rendered = store.render(
        store.get("greeting"),
        context(entry={"properties": {"seminar_title": "MA入門"}}),
        subject=SubjectSource(
            "【資料送付】{{ entry.properties.seminar_title }}", "journey j step s"
        ),
    )
    assert rendered.subject == "【資料送付】MA入門"


def test_a_missing_field_names_the_template_and_line(tmp_path: Path) -> None:
    source = GREETING.replace(
        "{{ contact.last_name }} {{ contact.first_name }} 様</mj-text>",
        "{{ contact.attributes.rank }} 様</mj-text>",
    )
    store = TemplateStore(folder_with(tmp_path, greeting=source))
    template = store.get("greeting")

    with pytest.raises(TemplateError) as raised:
        store.render(template, context())

    error = raised.value
    assert error.location == f"{template.where}:12"
    assert "{{ contact.attributes.rank }}" in error.message
    assert "default" in error.message


def test_default_fills_a_missing_field(tmp_path: Path) -> None:
    store = TemplateStore(
        folder_with(
            tmp_path,
            t=body_of(
                "<mj-text>{{ contact.first_name | default('お客') }}様 {{ contact.attributes.rank | default('一般') }}</mj-text>"
            ).replace("{% extends", "---\nsubject: s\n---\n{% extends"),
        )
    )
    no_name: dict[str, Any] = {
        "email": "anon@example.jp",
        "first_name": None,
        "locale": "ja",
        "attributes": {},
    }
    assert "お客様 一般" in store.render(store.get("t"), context(no_name)).html


def test_an_error_in_a_partial_names_the_partial(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, greeting=GREETING)
    (folder / "partials" / "footer.mjml").write_text(
        FOOTER.replace("{{ sender.address }}", "{{ sender.address }}\n{{ sender.phone }}"),
        encoding="utf-8",
    )
    store = TemplateStore(folder)
    with pytest.raises(TemplateError) as raised:
        store.render(store.get("greeting"), context())
    assert raised.value.location == f"{(folder / 'partials' / 'footer.mjml').as_posix()}:3"


@pytest.mark.parametrize(
    ("source", "line", "words"),
    [
        (GREETING.replace("{% endif %}", ""), 13, "{% if %} is never closed"),
        (GREETING.replace("</mj-column>", "", 1), 19, "<mj-column> (line 11) should close"),
        (GREETING.replace("topic: newsletter", "topik: newsletter"), 5, "unknown front matter key"),
        (
            GREETING.replace("from: 株式会社ナーチャー <info@nurture.example.jp>", "from: [oops"),
            4,
            "front matter",
        ),
        (GREETING.replace('"layouts/base.mjml"', '"layouts/missing.mjml"'), 8, "not found"),
        (
            GREETING.replace(
                '{% extends "layouts/base.mjml" %}', '{% import "partials/x.mjml" as x %}'
            ),
            8,
            "import",
        ),
        (
            GREETING.replace(
                "    <mj-button", "    <mj-spacer>{{ contact.email }}</mj-spacer><mj-button"
            ),
            17,
            "<mj-raw>",
        ),
    ],
    ids=[
        "unclosed-if",
        "unbalanced-mjml",
        "unknown-key",
        "bad-yaml",
        "missing-layout",
        "import",
        "lost-tag",
    ],
)
def test_check_reports_each_broken_template_at_its_line(
    tmp_path: Path, source: str, line: int, words: str
) -> None:
    folder = folder_with(tmp_path, good=GREETING, broken=source)
    problems = TemplateStore(folder).check()

    assert [p.location for p in problems] == [f"{(folder / 'broken.mjml').as_posix()}:{line}"]
    assert words in problems[0].message


def test_compiled_templates_are_reused_until_a_file_changes(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, greeting=GREETING)
    store = TemplateStore(folder)
    first = store.get("greeting")
    assert store.get("greeting") is first
    footer = folder / "partials" / "footer.mjml"
    footer.write_text(FOOTER.replace("配信停止", "配信の停止はこちら"), encoding="utf-8")
    changed = store.get("greeting")
    assert changed is not first
    assert "配信の停止はこちら" in store.render(changed, context()).html


def test_the_sandbox_refuses_internals(tmp_path: Path) -> None:
    attacks = [
        "{{ contact.__class__.__mro__ }}",
        "{{ contact.attributes.items.__globals__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ contact.attributes.update({'plan': 'free'}) }}",
    ]
    for n, attack in enumerate(attacks):
        store = TemplateStore(
            folder_with(
                tmp_path / str(n),
                t="---\nsubject: s\n---\n" + body_of(f"<mj-text>{attack}</mj-text>"),
            )
        )
        with pytest.raises(TemplateError) as raised:
            store.render(store.get("t"), context())
        assert raised.value.line == 4, attack
        assert re.search(r"unsafe|not allowed|no attribute '__", raised.value.message), attack


@pytest.mark.parametrize(
    "bomb",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ 10 ** 10000000 }}",
        "{{ '%999999999s' % 1 }}",
        "{{ 'ab' | replace('', 'x' * 1000) }}",
    ],
)
def test_a_template_bomb_is_cut_off(tmp_path: Path, bomb: str) -> None:
    store = TemplateStore(
        folder_with(tmp_path, t="---\nsubject: s\n---\n" + body_of(f"<mj-text>{bomb}</mj-text>")),
        limits=RenderLimits(seconds=2.0),
    )
    template = store.get("t")
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        store.render(template, context())
    assert time.monotonic() - started < 3
    assert raised.value.line == 4


def test_a_render_over_its_time_is_stopped(tmp_path: Path) -> None:
    slow = "{% for i in range(100000) %}{{ i }}{% endfor %}" * 50
    store = TemplateStore(
        folder_with(tmp_path, t="---\nsubject: s\n---\n" + body_of(f"<mj-text>{slow}</mj-text>")),
        limits=RenderLimits(seconds=0.05, steps=10**9, output_chars=10**9),
    )
    with pytest.raises(TemplateLimitExceeded) as raised:
        store.render(store.get("t"), context())
    assert "0.05 s" in raised.value.message


@pytest.mark.parametrize(
    ("value", "style", "locale", "expected"),
    [
        ("2026-11-29", "long", "ja", "2026年11月29日"),
        ("2026-11-29", "full", "ja-JP", "2026年11月29日(日)"),
        ("2026-11-29", "short", "ja", "2026/11/29"),
        ("2026-11-29", "long", "en", "November 29, 2026"),
        ("2026-11-29", "full", "en-US", "Sunday, November 29, 2026"),
        ("2026-11-29", "short", None, "Nov 29, 2026"),
        (date(2026, 1, 5), "%Y.%m.%d", "ja", "2026.01.05"),
        # 20:00 UTC on the 28th is already the 29th in Tokyo.
        (datetime(2026, 11, 28, 20, 0, tzinfo=UTC), "long", "ja", "2026年11月29日"),
    ],
)
def test_date_filter(value, style: str, locale: str | None, expected: str) -> None:
    assert format_date(value, style, locale=locale, timezone="Asia/Tokyo") == expected


@pytest.mark.parametrize(
    ("value", "currency", "locale", "expected"),
    [
        (12345, None, "ja", "¥12,345"),
        ("12,345.5", None, "ja", "¥12,346"),
        (12345, None, "en", "$12,345.00"),
        (12345, "JPY", "en", "¥12,345"),
        (-1200.5, "EUR", "ja", "-€1,200.50"),
        (99, "chf", "en", "CHF 99.00"),
    ],
)
def test_money_filter(value, currency: str | None, locale: str, expected: str) -> None:
    assert format_money(value, currency, locale=locale) == expected


def test_filters_read_the_template_locale_and_name_bad_values(tmp_path: Path) -> None:
    body = "<mj-text>{{ contact.attributes.renews | date }} {{ contact.attributes.price | money }}</mj-text>"
    store = TemplateStore(folder_with(tmp_path, t="---\nsubject: s\n---\n" + body_of(body)))
    data = {**YAMADA, "locale": "en", "attributes": {"renews": "2026-11-29", "price": 12345}}
    assert "November 29, 2026 $12,345.00" in store.render(store.get("t"), context(data)).html
    assert "2026年11月29日 ¥12,345" in store.render(store.get("t"), context(data, locale="ja")).html

    bad = {**data, "attributes": {"renews": "someday", "price": 1}}
    with pytest.raises(TemplateError) as raised:
        store.render(store.get("t"), context(bad))
    assert raised.value.line == 4 and "'someday'" in raised.value.message


def test_every_template_the_journeys_send_ships_and_compiles() -> None:
    names = set()
    for journey in (ROOT / "journeys").glob("*.yaml"):
        names |= set(re.findall(r"template:\s*([a-z0-9-]+)", journey.read_text(encoding="utf-8")))
    store = TemplateStore(ROOT / "templates")

    assert names <= set(store.names())
    assert store.check() == []


def test_the_japanese_seminar_mail_reads_in_japanese() -> None:
    store = TemplateStore(ROOT / "templates")
    rendered = store.render(
        store.get("seminar-thanks-ja"),
        context(entry={"properties": {"seminar_title": "MA入門 第3回"}}),
    )
    assert rendered.subject == "山田 様、本日はセミナーへのご参加ありがとうございました"
    assert "山田 太郎 様" in rendered.text
    assert "「MA入門 第3回」にご参加いただき" in rendered.text
    assert "こちらから配信停止 (https://mail.example.jp/u/token)" in rendered.text
    assert "〒100-0001 東京都千代田区千代田1-1" in rendered.text
    assert '<html lang="ja"' in rendered.html
