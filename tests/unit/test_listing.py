"""The one list helper (app/services/listing.py): sort tables and LIKE search, as SQL."""

from sqlalchemy import desc, select
from sqlalchemy.dialects import postgresql

from app.models import ApiKey, User
from app.services.listing import SortFields, like_escape, matches


def _sql(stmt) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(),
                            compile_kwargs={"literal_binds": True}))


def test_wildcards_in_a_search_are_literal():
    assert like_escape(r"50%_off\x") == r"50\%\_off\\x"
    sql = _sql(select(User.id).where(matches("a_b", User.username, starts=(User.email,))))
    assert "users.username ILIKE '%%a\\_b%%' ESCAPE '\\'" in sql  # anywhere
    assert "users.email ILIKE 'a\\_b%%' ESCAPE '\\'" in sql  # at the start


def test_a_sort_table_gives_choices_and_a_total_order():
    sorts = SortFields({"name": User.username, "createdAt": User.created_at},
                       tiebreak=(User.id,))
    assert sorts.choices == ("name", "createdAt", "-name", "-createdAt")
    sql = _sql(select(User.id).order_by(*sorts.order("-createdAt")))
    assert "ORDER BY users.created_at DESC NULLS LAST, users.id" in sql
    not_null = SortFields({"createdAt": ApiKey.created_at}, tiebreak=(desc(ApiKey.id),),
                          nulls_last=False)
    sql = _sql(select(ApiKey.id).order_by(*not_null.order("-createdAt")))
    assert "ORDER BY api_keys.created_at DESC, api_keys.id DESC" in sql


def test_the_tiebreak_is_not_repeated_when_it_is_the_sort_column():
    sorts = SortFields({"name": User.id}, tiebreak=(User.id,))
    assert len(sorts.order("name")) == 1
