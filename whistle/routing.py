"""Who may read a new case: the active investigators designated for its category (7 kap. 6 §)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from whistle.models import Category, Designation, Unit, User


def readers_for(db: Session, *, category_id: int) -> list[User]:
    """Active investigators with a key pair designated for the category, by name."""
    stmt = (
        select(User)
        .join(Designation, col(Designation.user_id) == col(User.id))
        .where(
            Designation.category_id == category_id,
            User.role == "investigator",
            User.status == "active",
            col(User.public_key).is_not(None),
        )
        .order_by(User.display_name)
    )
    return list(db.exec(stmt).all())


def designate(db: Session, *, category_id: int, user_id: str) -> None:
    if db.get(Designation, (category_id, user_id)) is None:
        db.add(Designation(category_id=category_id, user_id=user_id))


def active_categories(db: Session) -> list[Category]:
    return list(
        db.exec(
            select(Category).where(Category.active == True).order_by(col(Category.position))  # noqa: E712
        ).all()
    )


def active_units(db: Session) -> list[Unit]:
    return list(
        db.exec(select(Unit).where(Unit.active == True).order_by(col(Unit.position))).all()  # noqa: E712
    )
