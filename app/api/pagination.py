"""The one pager: paginates a SELECT in the database and builds the list envelope."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Select, func, select

from app.extensions import db


def paginate(stmt: Select, page: int, limit: int, *, scalars: bool = True) -> dict[str, Any]:
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    window = stmt.limit(limit).offset((page - 1) * limit)
    rows = db.session.scalars(window).all() if scalars else db.session.execute(window).all()
    return {
        "data": rows,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": math.ceil(total / limit) if total else 0,
        },
    }
