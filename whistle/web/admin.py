"""The administrator's pages. An administrator configures the channel but reads no case:
nothing here unwraps a key, and the only case data shown is aggregate counts."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import routing
from whistle.models import Case, User
from whistle.web.context import call, render
from whistle.web.staff import require_staff


def _overview(db: Session) -> dict[str, object]:
    counts = dict(db.exec(select(Case.status, func.count()).group_by(col(Case.status))).all())
    categories = routing.active_categories(db)
    readers = {c.id: routing.readers_for(db, category_id=c.id) for c in categories if c.id}
    users = list(db.exec(select(User).order_by(col(User.role), col(User.display_name))).all())
    return {"counts": counts, "categories": categories, "readers": readers, "users": users}


async def overview(request: Request) -> Response:
    staff = await require_staff(request, "admin")
    data = await call(request, _overview)
    return render(request, "admin/overview.html", {**data, "user": staff.user})


routes = [Route("/admin", overview, methods=["GET"])]
