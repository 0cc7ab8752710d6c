"""Long lists in pages: how many rows a query has, how many pages that makes, one page of it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select


def count_rows(session: Session, query: Select) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return session.execute(counted).scalar_one()


def page_count(total: int, per_page: int) -> int:
    """At least one page, so an empty list still has a page 1 to show."""
    return max(1, -(-total // per_page))


def one_page(query: Select, page: int, per_page: int) -> Select:
    """Page ``page`` (from 1) of ``query``, which must already have a stable order."""
    return query.offset((max(1, page) - 1) * per_page).limit(per_page)
