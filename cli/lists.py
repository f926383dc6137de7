"""``nurture lists``: the static lists that ``nurture contacts import --list KEY`` fills.

A static list holds whoever was put in it (an import, an event's attendees) and changes only
when someone changes it, unlike a segment, which is re-evaluated from its condition.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.runtime import fail, load_settings, open_database, out, reported

app = typer.Typer(help="Static lists: named sets of contacts, filled by CSV import.")

KeyArgument = Annotated[str, typer.Argument(help="The list's key, e.g. expo-2026.")]


@app.command("create")
def create(
    key: KeyArgument,
    name: Annotated[str | None, typer.Option(help="Display name (default: the key).")] = None,
    description: Annotated[str | None, typer.Option(help="What the list is for.")] = None,
) -> None:
    """Create an empty static list; fails if the key is taken."""
    from sqlalchemy import select

    from engine.clock import utcnow
    from engine.store.models import ContactList

    if not key.strip() or len(key) > 100:
        fail(f"key: expected 1 to 100 characters, got {len(key)}")
    database = open_database(load_settings())
    with reported(), database.unit_of_work() as session:
        if session.scalar(select(ContactList.id).where(ContactList.key == key)) is not None:
            fail(f"list '{key}' already exists")
        session.add(
            ContactList(key=key, name=name or key, description=description, created_at=utcnow())
        )
    out.print(f"created list {key}")


@app.command("list")
def list_lists() -> None:
    """Show every static list with its member count."""
    from rich.table import Table
    from sqlalchemy import func, select

    from engine.store.models import ContactList, ListMember

    members = (
        select(ListMember.list_id, func.count().label("members"))
        .group_by(ListMember.list_id)
        .subquery()
    )
    database = open_database(load_settings())
    with database.unit_of_work() as session:
        rows = session.execute(
            select(ContactList, func.coalesce(members.c.members, 0))
            .outerjoin(members, members.c.list_id == ContactList.id)
            .order_by(ContactList.key)
        ).all()
    table = Table("key", "name", "members", "created")
    for contact_list, count in rows:
        created = contact_list.created_at.isoformat(timespec="seconds")
        table.add_row(contact_list.key, contact_list.name, f"{count:,}", created)
    out.print(table)
    if not rows:
        out.print("no lists yet: `nurture contacts import FILE --list KEY` creates one")


@app.command("show")
def show(
    key: KeyArgument,
    sample: Annotated[int, typer.Option(help="How many members to show.")] = 20,
) -> None:
    """Show a list's name, member count, and its most recently added members."""
    from sqlalchemy import func, select

    from engine.store.models import Contact, ContactList, ListMember

    database = open_database(load_settings())
    with database.unit_of_work() as session:
        found = session.scalar(select(ContactList).where(ContactList.key == key))
        if found is None:
            fail(f"no list '{key}'; `nurture lists list` shows them")
        count = session.scalar(
            select(func.count()).select_from(ListMember).where(ListMember.list_id == found.id)
        )
        people = session.execute(
            select(Contact.email, Contact.last_name, Contact.first_name, ListMember.added_at)
            .join(ListMember, ListMember.contact_id == Contact.id)
            .where(ListMember.list_id == found.id)
            .order_by(ListMember.added_at.desc(), Contact.id)
            .limit(max(sample, 0))
        ).all()
        title = f"{found.key}: {found.name}"
        description = found.description
    out.print(title)
    if description:
        out.print(description)
    out.print(f"{count or 0:,} member(s)")
    for email, last_name, first_name, added_at in people:
        name = " ".join(p for p in (last_name, first_name) if p)
        out.print(f"  {email}  {name}  {added_at.isoformat(timespec='seconds')}")
