"""``/api/segments``: stored segments with counts, one with a sample, and YAML previews."""

from __future__ import annotations

from pathlib import Path

from engine.clock import utcnow
from engine.segments.definitions import sync_segments
from engine.segments.membership import reconcile
from engine.store.models import Contact

VIP = """\
id: vip
name: 優良顧客
condition: {score: {gte: 50}}
"""


def seed(database, tmp_path: Path) -> None:
    folder = tmp_path / "segments"
    folder.mkdir()
    (folder / "vip.yaml").write_text(VIP, encoding="utf-8")
    now = utcnow()
    with database.unit_of_work() as session:
        for email, last, first, score in [
            ("taro.yamada@example.jp", "山田", "太郎", 80),
            ("hanako.sato@example.jp", "佐藤", "花子", 20),
            ("ichiro.suzuki@example.jp", "鈴木", "一郎", 50),
        ]:
            session.add(
                Contact(
                    email=email,
                    last_name=last,
                    first_name=first,
                    score=score,
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
            )
        sync_segments(session, folder, now=now)
    reconcile(database, now=now)


def test_list_and_read_segments(client, database, key_for, tmp_path: Path) -> None:
    seed(database, tmp_path)
    reader = key_for("sales")

    listed = client.get("/api/segments", headers=reader)
    one = client.get("/api/segments/vip", headers=reader)
    missing = client.get("/api/segments/nope", headers=reader)
    anonymous = client.get("/api/segments")

    assert listed.status_code == 200
    assert [(s["id"], s["name"], s["members"]) for s in listed.json()] == [("vip", "優良顧客", 2)]
    assert listed.json()[0]["reconciled_at"] is not None
    body = one.json()
    assert (body["matching_now"], body["source"]) == (2, VIP)
    assert [c["name"] for c in body["sample"]] == ["山田 太郎", "鈴木 一郎"]
    assert missing.status_code == 404
    assert anonymous.status_code == 401


def test_preview_counts_or_reports_findings_at_their_line(
    client, database, key_for, tmp_path: Path
) -> None:
    seed(database, tmp_path)
    marketer = key_for("marketer")

    good = client.post(
        "/api/segments/preview",
        json={"source": "id: low\nname: 低スコア\ncondition: {score: {lt: 50}}\n"},
        headers=marketer,
    )
    bad = client.post(
        "/api/segments/preview",
        json={
            "filename": "journeys/segments/low.yaml",
            "source": "id: low\nname: x\ncondition:\n  any:\n    - {scor: {lt: 5}}\n",
        },
        headers=marketer,
    )

    assert good.json()["ok"] is True
    assert good.json()["matching_now"] == 1
    assert [c["email"] for c in good.json()["sample"]] == ["hanako.sato@example.jp"]
    finding = bad.json()["diagnostics"][0]
    assert bad.json()["ok"] is False
    assert (finding["file"], finding["line"], finding["code"]) == (
        "journeys/segments/low.yaml",
        5,
        "E112",
    )


def test_save_then_reconcile_then_delete_a_segment_through_the_api(
    client, database, key_for, tmp_path: Path
) -> None:
    seed(database, tmp_path)
    marketer, sales = key_for("marketer"), key_for("sales")
    source = "id: low\nname: 低スコア\ncondition: {score: {lt: 50}}\n"

    created = client.put("/api/segments/low", json={"source": source}, headers=marketer)
    again = client.put("/api/segments/low", json={"source": source}, headers=marketer)
    mismatched = client.put("/api/segments/other", json={"source": source}, headers=marketer)
    broken = client.put(
        "/api/segments/low",
        json={"source": "id: low\nname: x\ncondition:\n  any:\n    - {scor: {lt: 5}}\n"},
        headers=marketer,
    )
    forbidden = client.put("/api/segments/low", json={"source": source}, headers=sales)
    reconcile(database, now=utcnow())
    stored = client.get("/api/segments/low", headers=sales).json()
    deleted = client.delete("/api/segments/low", headers=marketer)
    gone = client.get("/api/segments/low", headers=sales)

    assert (created.json()["outcome"], again.json()["outcome"]) == ("created", "unchanged")
    assert mismatched.status_code == 422
    assert "must match" in mismatched.text
    assert broken.status_code == 422
    fields = [p["field"] for p in broken.json()["error"]["fields"]]
    assert fields[0].startswith("segments/low.yaml:5:")
    assert forbidden.status_code == 403
    assert stored["members"] == 1
    assert stored["source"] == source  # the broken save stored nothing
    assert deleted.status_code == 204 and gone.status_code == 404
