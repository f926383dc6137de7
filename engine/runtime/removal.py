"""Take contacts out of a journey by hand: their live enrollments end with reason ``removed``.

What a marketer does when a lead asks to stop, was enrolled by mistake, or has been handled
another way. The enrollment ends as an ``exit_when`` would end it: at once, its timer and
its wait cleared, counted under its exit reason on the canvas and shown on the contact's
timeline. Effects already decided (mail queued by an earlier step) stay as they are. The
journey's re-entry rules decide whether a later trigger may enroll the contact again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import literal, update
from sqlalchemy.orm import Session

from engine.journey.conditions import Condition
from engine.runtime.enroll import in_matching_batches
from engine.runtime.journeys import require_journey
from engine.store.bulk import among
from engine.store.db import Database
from engine.store.models import Enrollment
from engine.store.models.base import table_of
from engine.store.types import Json, merge_patch

#: The exit reason of an enrollment ended by hand.
REMOVED = "removed"


def remove_contacts(
    session: Session,
    journey_id: str,
    contact_ids: Iterable[int],
    *,
    now: datetime,
    enrollment_id: int | None = None,
) -> list[int]:
    """End these contacts' live enrollments in the journey; return the contacts that had one.

    ``enrollment_id`` ends that one only (a contact may run a journey several times at once,
    one enrollment per correlation key).

    One UPDATE: a worker stepping one of them holds its row, so the UPDATE waits for that
    step and then ends what the step left. Raises NotFound for an unknown journey (a paused or
    archived one is fine: paused contacts may be taken out too).
    """
    require_journey(session, journey_id)
    ids = sorted(set(contact_ids))
    if not ids:
        return []
    table = table_of(Enrollment)
    ended = session.execute(
        update(table)
        .where(
            table.c.journey_id == journey_id,
            among(session, table.c.contact_id, ids),
            table.c.status != "exited",
            *([table.c.id == enrollment_id] if enrollment_id is not None else []),
        )
        .values(
            status="exited",
            exit_reason=REMOVED,
            exited_at=now,
            wake_at=None,
            waiting_on=None,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
            state=merge_patch(
                table.c.state,
                literal(
                    {
                        "status": "exited",
                        "exit_reason": REMOVED,
                        "wait_started_at": None,
                        "wake_at": None,
                        "waiting_on": None,
                    },
                    Json,
                ),
            ),
        )
        .returning(table.c.contact_id)
    )
    return sorted({contact_id for (contact_id,) in ended})


def remove_matching(
    database: Database,
    journey_id: str,
    condition: Condition,
    *,
    now: datetime,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]:
    """Take every contact matching ``condition`` out of the journey, a committed batch at a time.

    Returns (contacts taken out, contacts matched). A crash keeps the batches done; running
    it again takes out only those still in. Raises NotFound for an unknown journey.
    """
    with database.sessions() as session:
        require_journey(session, journey_id)
    removed = 0

    def remove(session: Session, ids: list[int]) -> None:
        nonlocal removed  # a count: a segment of millions is never held as a list of ids
        removed += len(remove_contacts(session, journey_id, ids, now=now))

    matched = in_matching_batches(database, condition, remove, now=now, progress=progress)
    return removed, matched
