"""The one list helper below the API: a sort table, a search condition, the pager.

Services build a SELECT with ``SortFields.order`` and ``matches``; the API pages it with
``paginate`` (BEMServer's ``SortField``/``database.py`` are the model)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select

from app.extensions import db


@dataclass(frozen=True)
class SortFields:
    """The sortable fields of a list: API name → column; ``-name`` sorts descending.

    ``tiebreak`` columns make the order total (paging is stable); ``nulls_last`` puts rows
    without a value after the others in both directions (off where the columns are NOT NULL,
    so a descending sort can still walk an index backwards)."""

    columns: Mapping[str, Any]
    tiebreak: Sequence[Any] = ()
    nulls_last: bool = True

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.columns) + tuple(f"-{name}" for name in self.columns)

    def order(self, sort: str) -> list:
        column = self.columns[sort.lstrip("-")]
        first = column.desc() if sort.startswith("-") else column.asc()
        if self.nulls_last:
            first = first.nulls_last()
        return [first, *(extra for extra in self.tiebreak if extra is not column)]


def like_escape(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(term: str, *columns, starts: Sequence = ()):
    """Case-insensitive search: ``term`` anywhere in ``columns`` or at the start of
    ``starts`` (e.g. a key prefix)."""
    escaped = like_escape(term)
    return or_(*(column.ilike(f"%{escaped}%", escape="\\") for column in columns),
               *(column.ilike(f"{escaped}%", escape="\\") for column in starts))


def paginate(stmt: Select, page: int, limit: int, *, scalars: bool = True) -> dict[str, Any]:
    """One page of ``stmt`` (counted and windowed in the database) in the list envelope."""
    total = db.session.scalar(_count_of(stmt))
    window = stmt.limit(limit).offset((page - 1) * limit)
    rows = db.session.scalars(window).all() if scalars else db.session.execute(window).all()
    return envelope(rows, page, limit, total)


def paginate_in_one_query(stmt: Select, page: int, limit: int, *columns) -> dict[str, Any]:
    """``paginate`` in one round trip: the total is a scalar subquery of the page's SELECT,
    beside ``columns`` (more scalar subqueries the caller needs once). Rows are
    ``(entity, *columns)``. A page past the end has no row to carry the total: it is then
    counted apart. For small tables (the catalogue): the count scans the filtered rows again."""
    window = (stmt.add_columns(_count_of(stmt).scalar_subquery().correlate(None), *columns)
              .limit(limit).offset((page - 1) * limit))
    rows = db.session.execute(window).all()
    past_the_end = not rows and page > 1
    total = db.session.scalar(_count_of(stmt)) if past_the_end else (rows[0][1] if rows else 0)
    return envelope([(row[0], *row[2:]) for row in rows], page, limit, total)


def _count_of(stmt: Select) -> Select:
    return select(func.count()).select_from(stmt.order_by(None).subquery())


def envelope(rows: list, page: int, limit: int, total: int) -> dict[str, Any]:
    """The list envelope every list endpoint answers."""
    return {
        "data": rows,
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": math.ceil(total / limit) if total else 0,
        },
    }
