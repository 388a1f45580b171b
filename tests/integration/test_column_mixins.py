"""Users, teams and API keys declare their budget and rate limits once (BudgetLimits): the
database refuses a negative limit on each of the three tables alike (migration 0012)."""

import pytest
from sqlalchemy import text

from app.extensions import db

TABLES = ("users", "teams", "api_keys")
LIMITS = ("max_budget", "tpm_limit", "rpm_limit")


def test_every_limit_of_the_three_tables_has_its_non_negative_check(app_ctx):
    names = set(db.session.scalars(text(
        "SELECT conname FROM pg_constraint WHERE contype = 'c' AND convalidated")))
    missing = [f"ck_{t}_{c}_non_negative" for t in TABLES for c in LIMITS
               if f"ck_{t}_{c}_non_negative" not in names]
    assert missing == []


@pytest.mark.parametrize("column", ["tpm_limit", "rpm_limit"])
def test_a_negative_user_or_team_limit_is_refused(app_ctx, column):
    from sqlalchemy.exc import IntegrityError

    for insert in (f"INSERT INTO users (username, oauth_provider, oauth_subject, {column}) "
                   f"VALUES ('neg', 'mock', 'neg', -1)",
                   f"INSERT INTO teams (name, {column}) VALUES ('neg', -1)"):
        with (pytest.raises(IntegrityError, match=f"{column}_non_negative"),
              db.session.begin_nested()):
            db.session.execute(text(insert))
    db.session.rollback()
