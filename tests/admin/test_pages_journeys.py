"""The journey list and canvas pages through the ASGI app, and the canvas layout itself."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from admin.ui.canvas import StepFigures, StepNode, layout, levels
from engine.clock import utcnow
from engine.deploy import service
from engine.store.db import Database
from engine.store.models import Contact, Enrollment, Journey, JourneyVersion, StepRun
from tests.admin.conftest import csrf_of, sign_in
from tests.admin.pages_seed import JOURNEY, fast_passwords, seed

__all__ = ["fast_passwords"]

NODES = [
    StepNode("start", "wait", (("", "check"),)),
    StepNode("check", "branch", (("then", "yes"), ("else", "no"))),
    StepNode("yes", "tag", (("", "start"),)),  # a loop back to the top
    StepNode("no", "exit", ()),
    StepNode("orphan", "exit", ()),
]


def test_levels_are_breadth_first_and_orphans_are_minus_one() -> None:
    assert levels(NODES, "start") == {"start": 0, "check": 1, "yes": 2, "no": 2, "orphan": -1}


def test_layout_rows_by_level_then_orphans_and_routes_loops_outside() -> None:
    canvas = layout(NODES, "start", {"check": StepFigures(entered=5, waiting=1, exited={"x": 2})})
    by_id = {b.id: b for b in canvas.boxes}
    assert [b.id for b in canvas.boxes] == ["start", "check", "yes", "no", "orphan"]
    assert by_id["start"].y < by_id["check"].y < by_id["yes"].y == by_id["no"].y < by_id["orphan"].y
    assert by_id["yes"].x < by_id["no"].x  # then left of else
    assert by_id["check"].figures.moved_on == 2 and by_id["start"].figures.entered == 0
    for box in canvas.boxes:
        assert box.x >= 0 and box.x + box.width <= canvas.width
        assert box.y + box.height <= canvas.height
    loop = next(e for e in canvas.edges if e.source == "yes")
    assert loop.back and loop.target == "start"
    assert {e.label for e in canvas.edges} == {"", "then", "else"}


def test_moved_on_never_goes_negative() -> None:
    assert StepFigures(entered=1, waiting=3).moved_on == 0


def test_list_and_canvas_show_live_counts(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    sign_in(ui, make_user())
    rep, other = make_user("rep@example.jp", "sales"), make_user("rep2@example.jp", "sales")
    seed(database, rep=rep, other_rep=other)
    listing = ui.get("/admin/journeys")
    assert listing.status_code == 200
    row = re.search(r'<tr data-journey="seminar-ja">(.*?)</tr>', listing.text, re.S)
    assert row is not None and "セミナー後フォロー" in row.group(1)
    assert re.search(r'class="num live">1<', row.group(1))
    assert re.search(r'class="num exited">1<', row.group(1))

    page = ui.get("/admin/journeys/seminar-ja")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    html = page.text
    assert '<svg id="canvas"' in html and 'id="step-tag_hot"' in html
    wait_row = re.search(r'<tr data-step="wait_1d">(.*?)</tr>', html, re.S)
    assert wait_row is not None
    people = "/admin/journeys/seminar-ja/people?version=1&amp;step=wait_1d&amp;status="
    visits = "/admin/journeys/seminar-ja/people?version=1&amp;visited=wait_1d&amp;status=all"
    assert f'class="num entered"><a href="{visits}">2</a><' in wait_row.group(1)
    assert f'class="num waiting"><a href="{people}waiting">1</a><' in wait_row.group(1)
    done_row = re.search(r'<tr data-step="done">(.*?)</tr>', html, re.S)
    assert done_row is not None and "finished: 1" in done_row.group(1)
    assert "step=done&amp;status=exited" in done_row.group(1)
    assert 'data-goal="became_sql"' in html
    assert '<li id="L2"><code>id: seminar-ja</code></li>' in html


def test_pause_and_resume_need_csrf_and_change_status(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    page = ui.get("/admin/journeys/seminar-ja")
    assert ui.post("/admin/journeys/seminar-ja/pause", data={"csrf": "bad"}).status_code == 403
    paused = ui.post("/admin/journeys/seminar-ja/pause", data={"csrf": csrf_of(page.text)})
    assert paused.status_code == 303
    with database.sessions() as session:
        stored = session.get(Journey, "seminar-ja")
        assert stored is not None and stored.status == "paused"
    assert 'id="resume"' in ui.get("/admin/journeys/seminar-ja").text
    ui.post("/admin/journeys/seminar-ja/resume", data={"csrf": csrf_of(page.text)})
    with database.sessions() as session:
        stored = session.get(Journey, "seminar-ja")
        assert stored is not None and stored.status == "active"


def test_journey_pages_refuse_sales_and_404_unknown(
    ui: TestClient, make_user: Callable[..., str]
) -> None:
    sign_in(ui, make_user("mary@example.com", locale="en", family_name="Smith", given_name="Mary"))
    missing = ui.get("/admin/journeys/nope")
    assert missing.status_code == 404 and "does not exist" in missing.text
    listing = ui.get("/admin/journeys")
    assert "<h1>Journeys</h1>" in listing.text and "Publish one with" in listing.text
    ui.cookies.clear()
    sign_in(ui, make_user("rep@example.jp", "sales"))
    assert ui.get("/admin/journeys").status_code == 403
    assert ui.get("/admin/journeys/seminar-ja").status_code == 403


EDITED = (
    JOURNEY.format(name='"セミナー後フォロー 改"')
    .replace("version: 1", "version: 2")
    .replace("  done: {type: exit, reason: finished}", "  done: {type: exit, reason: 完了}")
)
BROKEN = JOURNEY.format(name='"壊れた版"').replace("next: hot}", "next: nowhere}")
SPLIT = """\
dsl: journey/v1
id: ab-ja
name: 件名テスト
version: 1
triggers:
  - event: seminar_attended
goals: [{id: booked, when: {event: demo_booked}}]
start: ab
steps:
  ab:
    type: split
    sticky: contact
    experiment: {goal: booked, window: 14d}
    paths:
      - {name: 丁寧, weight: 50, next: mail_a}
      - {name: 簡潔, weight: 50, next: mail_b}
  mail_a: {type: tag, add: [a], next: done}
  mail_b: {type: tag, add: [b], next: done}
  done: {type: exit, reason: finished}
"""


def _seeded(ui: TestClient, make_user: Callable[..., str], database: Database) -> str:
    """Sign in as a marketer, seed the seminar journey, and return its page."""
    sign_in(ui, make_user())
    seed(
        database, rep=make_user("rep@example.jp", "sales"), other_rep=make_user("r2@x.jp", "sales")
    )
    page: str = ui.get("/admin/journeys/seminar-ja").text
    return page


def _versions(database: Database) -> list[int]:
    with database.sessions() as session:
        return sorted(
            session.scalars(
                select(JourneyVersion.version).where(JourneyVersion.journey_id == "seminar-ja")
            )
        )


def test_simulator_shows_the_timeline_of_a_stored_japanese_contact_in_the_users_zone(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    page = _seeded(ui, make_user, database)
    assert 'id="simulator"' in page and "セミナー後フォロー" in page
    event = '{"type": "seminar_attended", "occurred_at": "2026-03-06T10:00:00Z", "properties": {"会場": "東京"}}'
    with database.sessions() as session:
        runs_before = session.scalar(select(func.count()).select_from(StepRun))
    answer = ui.post(
        "/admin/journeys/seminar-ja/simulate",
        data={"csrf": csrf_of(page), "email": "taro@example.jp", "events": event, "until": "7d"},
    )
    assert answer.status_code == 200, answer.text
    rows = re.findall(
        r'<tr data-step="([^"]+)" data-action="([^"]+)"><td class="when">([^<]+)<', answer.text
    )
    steps = [step for step, _, _ in rows]
    assert "tag_hot" in steps  # 山田 太郎様 scores 72, so the branch takes "then"
    assert steps.index("wait_1d") < steps.index("tag_hot") < steps.index("done")
    assert rows[0][2] == "2026/03/06 19:00"  # 10:00 UTC shown in Asia/Tokyo
    wait_over = next(when for step, _, when in rows if step == "tag_hot")
    assert wait_over == "2026/03/07 19:00"
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StepRun)) == runs_before
    unknown = ui.post(
        "/admin/journeys/seminar-ja/simulate",
        data={"csrf": csrf_of(page), "email": "nobody@example.jp", "events": event},
    )
    assert unknown.status_code == 422
    assert re.search(r'id="sim-error"[^>]*>[^<]*nobody@example.jp', unknown.text)
    bad_line = ui.post(
        "/admin/journeys/seminar-ja/simulate",
        data={"csrf": csrf_of(page), "email": "taro@example.jp", "events": "\n{壊れた"},
    )
    assert bad_line.status_code == 422 and "events line 2:2" in bad_line.text


def test_deploy_from_the_editor_stores_the_next_version(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    page = _seeded(ui, make_user, database)
    assert "id: seminar-ja" in page.split('id="editor-source"')[1].split("</textarea>")[0]
    checked = ui.post(
        "/admin/journeys/seminar-ja/editor",
        data={"csrf": csrf_of(page), "source": EDITED, "action": "validate"},
    )
    assert checked.status_code == 200
    assert "v2" in checked.text and 'id="diff-summary">~1 step' in checked.text
    assert _versions(database) == [1]  # validating stores nothing
    deployed = ui.post(
        "/admin/journeys/seminar-ja/editor",
        data={"csrf": csrf_of(page), "source": EDITED, "action": "deploy"},
    )
    assert deployed.status_code == 303
    assert deployed.headers["location"] == "/admin/journeys/seminar-ja?deployed=2"
    assert _versions(database) == [1, 2]
    shown = ui.get(deployed.headers["location"]).text
    assert 'id="deployed"' in shown and "reason: 完了" in shown
    with database.sessions() as session:
        journey = session.get(Journey, "seminar-ja")
        assert journey is not None and journey.active_version == 2


def test_invalid_yaml_is_shown_at_its_line_and_stores_nothing(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    page = _seeded(ui, make_user, database)
    refused = ui.post(
        "/admin/journeys/seminar-ja/editor",
        data={"csrf": csrf_of(page), "source": BROKEN, "action": "deploy"},
    )
    assert refused.status_code == 422
    line = BROKEN.splitlines().index("  wait_1d: {type: wait, duration: 1d, next: nowhere}") + 1
    finding = re.search(
        r'<li class="finding error" data-line="(\d+)"><a href="#E\d+"><code>(\d+):(\d+)</code>',
        refused.text,
    )
    assert finding is not None and int(finding.group(2)) == line
    assert f'<li id="E{line}" class="marked error"><code>' in refused.text
    assert "nowhere" in refused.text and "壊れた版" in refused.text  # the edit is kept
    syntax = ui.post(
        "/admin/journeys/seminar-ja/editor",
        data={"csrf": csrf_of(page), "source": "id: seminar-ja\nsteps: [\n", "action": "deploy"},
    )
    assert syntax.status_code == 422 and 'class="finding error"' in syntax.text
    assert _versions(database) == [1]


def test_editor_and_simulator_refuse_bad_csrf_sales_and_other_journeys(
    ui: TestClient, make_user: Callable[..., str], database: Database
) -> None:
    page = _seeded(ui, make_user, database)
    other = EDITED.replace("id: seminar-ja", "id: another-ja")
    moved = ui.post(
        "/admin/journeys/seminar-ja/editor",
        data={"csrf": csrf_of(page), "source": other, "action": "deploy"},
    )
    assert moved.status_code == 422 and 'id="other-journey"' in moved.text
    for path, data in (
        ("editor", {"csrf": "bad", "source": EDITED, "action": "deploy"}),
        ("simulate", {"csrf": "bad", "email": "taro@example.jp"}),
    ):
        assert ui.post(f"/admin/journeys/seminar-ja/{path}", data=data).status_code == 403
    assert _versions(database) == [1]
    ui.cookies.clear()
    sign_in(ui, make_user("sato@example.jp", "sales"))
    token = csrf_of(ui.get("/admin/").text)
    sales = ui.post(
        "/admin/journeys/seminar-ja/editor",
        data={"csrf": token, "source": EDITED, "action": "deploy"},
    )
    assert sales.status_code == 403
    assert _versions(database) == [1]


def test_ab_results_show_rates_uplift_and_confidence(
    ui: TestClient,
    make_user: Callable[..., str],
    database: Database,
    key_for: Callable[..., dict[str, str]],
) -> None:
    sign_in(ui, make_user())
    now = utcnow().replace(microsecond=0)
    with database.unit_of_work() as session:
        plan = service.plan_deploy(session, [("ab-ja.yaml", SPLIT)])
        service.apply_deploy(session, plan, now=now, published_by="test")
        # 丁寧: 200 of 1,000 booked; 簡潔: 250 of 1,000 (z = 2.68, confidence 99.3 %)
        for path, people, booked in (("mail_a", 1000, 200), ("mail_b", 1000, 250)):
            for n in range(people):
                contact = Contact(
                    email=f"{path}-{n}@example.jp",
                    first_name="一郎",
                    last_name="鈴木",
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
                session.add(contact)
                session.flush()
                enrollment = Enrollment(
                    journey_id="ab-ja",
                    version=1,
                    contact_id=contact.id,
                    status="exited",
                    step="done",
                    entry={},
                    state={},
                    entered_at=now,
                    updated_at=now,
                    exit_reason="finished",
                )
                session.add(enrollment)
                session.flush()
                steps = ["ab", path, "done"] + (["goal:booked"] if n < booked else [])
                session.add_all(
                    StepRun(
                        enrollment_id=enrollment.id,
                        step=s,
                        attempt=1,
                        status="done",
                        started_at=now,
                    )
                    for s in steps
                )
    html = ui.get("/admin/journeys/ab-ja").text
    table = re.search(r'<table class="ab" id="ab-ab".*?</table>', html, re.S)
    assert table is not None
    rows = dict(re.findall(r'<tr data-variant="([^"]+)">(.*?)</tr>', table.group(0), re.S))
    assert 'class="num entered">1,000<' in rows["丁寧"] and 'class="num rate">20%<' in rows["丁寧"]
    assert 'class="num conversions">250<' in rows["簡潔"]
    assert 'class="num uplift">+25.0%<' in rows["簡潔"]
    assert 'class="num confidence">99.3%<' in rows["簡潔"]

    # The API answers the same figures as JSON.
    answer = ui.get("/api/journeys/ab-ja/ab", headers=key_for("sales"))
    assert answer.status_code == 200, answer.text
    (split,) = answer.json()
    assert (split["version"], split["step"], split["goal"]) == (1, "ab", "booked")
    control, variant = split["variants"]
    assert (control["name"], control["entered"], control["conversions"]) == ("丁寧", 1000, 200)
    assert control["control"] is True and variant["control"] is False
    assert (variant["name"], variant["conversions"]) == ("簡潔", 250)
    assert variant["comparison"]["rate"] == 0.25
    assert round(variant["comparison"]["uplift"], 3) == 0.25
    assert round(variant["comparison"]["confidence"], 3) == 0.993
    assert 0.22 < variant["comparison"]["low"] < 0.25 < variant["comparison"]["high"] < 0.28
    assert ui.get("/api/journeys/ab-ja/ab?version=1", headers=key_for("sales")).json() == [split]
    assert ui.get("/api/journeys/nope/ab", headers=key_for("sales")).status_code == 404


def test_the_counts_lead_to_the_people_at_a_step(
    ui: TestClient, make_user: Callable[..., str], database: Database, monkeypatch: object
) -> None:
    import admin.ui.journey_people as people

    rep = make_user("rep@example.jp", "sales")
    seed(database, rep=rep, other_rep=make_user("r2@x.jp", "sales"))
    sign_in(ui, make_user())
    base = "/admin/journeys/seminar-ja/people"
    live = ui.get(base)
    assert live.status_code == 200
    rows = re.findall(r'<tr data-email="([^"]+)" data-status="(\w+)">', live.text)
    assert rows == [("taro@example.jp", "waiting")]
    assert "山田 太郎" in live.text and "<code>wait_1d</code>" in live.text
    ended = ui.get(base, params={"version": 1, "step": "done", "status": "exited"}).text
    assert re.findall(r'<tr data-email="([^"]+)" data-status="(\w+)">', ended) == [
        ("hanako@example.jp", "exited")
    ]
    assert "finished" in ended and 'href="/admin/contacts/hanako%40example.jp"' in ended
    nobody = ui.get(base, params={"step": "wait_1d", "status": "exited"}).text
    assert 'id="no-people"' in nobody
    # Who ever entered a step, wherever they are now: the canvas's "entered" link.
    passed = ui.get(base, params={"visited": "wait_1d", "status": "all"}).text
    assert re.findall(r'<tr data-email="([^"]+)"', passed) == [
        "hanako@example.jp",
        "taro@example.jp",
    ]
    assert 'id="visited"' in passed and "<code>wait_1d</code>" in passed
    branch = ui.get(base, params={"visited": "hot", "status": "all"}).text
    assert re.findall(r'<tr data-email="([^"]+)"', branch) == ["hanako@example.jp"]
    never = ui.get(base, params={"visited": "tag_hot", "status": "all"}).text
    assert 'id="no-people"' in never

    monkeypatch.setattr(people, "PAGE_SIZE", 1)  # type: ignore[attr-defined]
    first = ui.get(base, params={"status": "all"}).text
    assert first.count("<tr data-email=") == 1 and "hanako@example.jp" in first
    more = re.search(r'id="next-page" href="([^"]+)"', first)
    assert more is not None
    second = ui.get(more.group(1).replace("&amp;", "&")).text
    assert second.count("<tr data-email=") == 1 and "taro@example.jp" in second
    assert 'id="next-page"' not in second
    bad = ui.get(base, params={"cursor": "nonsense"})
    assert bad.status_code == 200 and 'role="alert"' in bad.text

    assert ui.get("/admin/journeys/no-such/people").status_code == 404
    ui.cookies.clear()
    sign_in(ui, rep)
    assert ui.get(base).status_code == 403
