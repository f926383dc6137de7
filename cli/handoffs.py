"""``nurture handoffs``: list handoffs, accept one, reject one with a reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.runtime import load_settings, open_database, out, reported

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.handoffs.responses import Viewer

app = typer.Typer(help="Sales handoffs: list, accept, reject (recycles the lead).")

AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as this user (their handoffs only); default: as a manager."),
]


def _viewer(session: Session, email: str | None) -> Viewer:
    from sqlalchemy import select

    from engine.errors import NotFound
    from engine.handoffs.responses import Viewer
    from engine.store.models import User

    if email is None:
        return Viewer(None, True)
    user_id = session.scalar(select(User.id).where(User.email == email.strip().lower()))
    if user_id is None:
        raise NotFound(f"no user with email {email!r}")
    return Viewer(user_id, False)


@app.command("list")
def list_handoffs(
    status: Annotated[str | None, typer.Option(help="pending, assigned, escalated, …")] = None,
    as_user: AsOption = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List handoffs newest first."""
    from engine.handoffs import responses
    from engine.store.models import Contact

    database = open_database(load_settings())
    with reported(), database.sessions() as session:
        viewer = _viewer(session, as_user)
        rows = responses.list_handoffs(session, viewer, status=status, limit=limit)
        for h in rows:
            contact = session.get(Contact, h.contact_id)
            email = contact.email if contact else "?"
            due = f"{h.sla_due_at:%Y-%m-%d %H:%M}" if h.sla_due_at else "-"
            out.print(
                f"{h.id:>6}  {h.status:<10}  {email:<32}  score {contact.score if contact else '-':>4}"
                f"  due {due}  {h.reason or ''}",
                markup=False,
            )
    if not rows:
        out.print("no handoffs")


def _answer(handoff_id: int, *, accept: bool, reason: str | None, as_user: str | None) -> None:
    from engine.clock import utcnow
    from engine.handoffs import responses

    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        viewer = _viewer(session, as_user)
        handoff = responses.answer(
            session, handoff_id, viewer, accept=accept, reason=reason, now=utcnow()
        )
        status = handoff.status
    out.print(f"handoff {handoff_id} {status}")


@app.command("accept")
def accept(handoff_id: int, as_user: AsOption = None) -> None:
    """Accept a handoff: the lead becomes an SQL."""
    _answer(handoff_id, accept=True, reason=None, as_user=as_user)


@app.command("reject")
def reject(
    handoff_id: int,
    reason: Annotated[str, typer.Option(help="Why sales does not take the lead.")],
    as_user: AsOption = None,
) -> None:
    """Reject a handoff with a reason: the lead is recycled and ``handoff_rejected`` fires."""
    _answer(handoff_id, accept=False, reason=reason, as_user=as_user)
