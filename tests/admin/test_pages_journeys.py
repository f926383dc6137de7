"""The journey list and canvas pages through the ASGI app, and the canvas layout itself."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from admin.ui.canvas import StepFigures, StepNode, layout, levels
from engine.store.db import Database
from engine.store.models import Journey
from tests.admin.conftest import csrf_of, sign_in
from tests.admin.pages_seed import fast_passwords, seed

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
    assert 'class="num entered">2<' in wait_row.group(1)
    assert 'class="num waiting">1<' in wait_row.group(1)
    done_row = re.search(r'<tr data-step="done">(.*?)</tr>', html, re.S)
    assert done_row is not None and "finished: 1" in done_row.group(1)
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
