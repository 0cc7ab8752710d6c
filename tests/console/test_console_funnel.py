"""The funnel: how many started, consented, finished, may qualify, left details, were contacted
and enrolled, by trial, channel and week; and where patients stop or are ruled out, as charts
drawn by the console itself with their numbers beside them."""

from __future__ import annotations

import re
from datetime import date, timedelta, timezone
from zoneinfo import ZoneInfo

from bot import funnel
from bot.db import session_scope
from tests.console.support import T0, add_lead, add_screening


def a_month_of_screenings() -> None:
    # Week of 3 Nov: five patients on the REST channel.
    add_screening("declined", "declined", consented=False)
    add_screening("stopped-at-age", "stopped", last_question_id="age")
    add_screening("out-at-duration", "not_eligible", last_question_id="treatment_duration")
    add_screening("out-at-duration-2", "not_eligible", last_question_id="treatment_duration",
                  started_at=T0 + timedelta(days=1))
    add_lead(add_screening("lead-new", "may_qualify"))
    # Week of 17 Nov (the week between is empty): two on socket.io.
    later = T0 + timedelta(days=15)
    add_lead(add_screening("lead-enrolled", "may_qualify_confirm", channel="socketio",
                           started_at=later), status="enrolled", created_at=later)
    add_screening("quiet", "in_progress", channel="socketio", started_at=later,
                  last_question_id="lupus_meds")
    # Started over: its successor counts instead.
    add_screening("restarted", "restarted")


def test_each_stage_counts_the_screenings_that_reached_it(database_url):
    a_month_of_screenings()
    with session_scope() as session:
        data = funnel.funnel(session, now=T0 + timedelta(days=30))
    assert data.overall == {
        "started": 7, "consented": 6, "finished": 4, "may_qualify": 2, "left_details": 2,
        "contacted": 1, "enrolled": 1,
    }
    assert data.declined == 1
    assert data.by_channel["socketio"]["started"] == 2
    assert data.by_channel["rest"]["left_details"] == 1
    assert data.by_trial["NCT06675422"]["started"] == 7
    assert list(data.by_week) == [date(2025, 11, 3), date(2025, 11, 10), date(2025, 11, 17)]
    assert data.by_week[date(2025, 11, 10)]["started"] == 0


def test_the_drop_off_ranks_the_questions_where_patients_stop_or_are_ruled_out(database_url):
    a_month_of_screenings()
    with session_scope() as session:
        drops = funnel.funnel(session, now=T0 + timedelta(days=30)).drop_offs
    assert [(d.question_id, d.left, d.ruled_out) for d in drops] == [
        ("treatment_duration", 0, 2), ("age", 1, 0), ("lupus_meds", 1, 0),
    ]


def test_a_screening_still_being_answered_has_not_dropped_off(database_url):
    add_screening("now", "in_progress", last_question_id="age")
    with session_scope() as session:
        data = funnel.funnel(session, now=T0 + timedelta(hours=1))
    assert data.drop_offs == []


def test_filters_narrow_the_funnel(database_url):
    a_month_of_screenings()
    with session_scope() as session:
        socketio = funnel.funnel(session, funnel.Filters(channel="socketio"))
        first_week = funnel.funnel(session, funnel.Filters(until=T0 + timedelta(days=7)))
    assert socketio.overall["started"] == 2 and socketio.overall["enrolled"] == 1
    assert first_week.overall["started"] == 5


def test_weeks_follow_the_site_time_zone():
    sunday_night_utc = T0 - timedelta(hours=10)  # Sun 2 Nov 23:00 UTC = Mon 07:00 in Shanghai
    assert funnel.week_of(sunday_night_utc, timezone.utc) == date(2025, 10, 27)
    assert funnel.week_of(sunday_night_utc, ZoneInfo("Asia/Shanghai")) == date(2025, 11, 3)


def test_the_funnel_page_draws_accessible_charts_with_their_numbers(coordinator):
    a_month_of_screenings()
    page = coordinator.get("/funnel").get_data(as_text=True)
    for chart in ("funnel-overall", "funnel-dropoff", "funnel-weekly", "funnel-trial-0",
                  "funnel-channel-0"):
        assert f'role="img" id="{chart}"' in page
        assert f'<title id="{chart}-title">' in page and f'<desc id="{chart}-desc">' in page
    assert "Started: 7" in page and "Enrolled: 1" in page  # the description reads the numbers
    # The question that rules most patients out comes first, in its own words.
    drops = page[page.index('id="drop-offs"'):]
    assert drops.index("How long have you been taking") < drops.index("How old are you?")
    assert '<th scope="row">JY231</th>' in page  # by trial, in numbers too
    by_channel = page[page.index('<table id="by-channel">'):]
    assert '<th scope="row">Web chat</th>' in by_channel  # and by channel, as people name it
    # Nothing comes from elsewhere: no script, no remote stylesheet, no CDN.
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_the_funnel_filters_by_channel_and_date(coordinator):
    a_month_of_screenings()
    page = coordinator.get("/funnel?channel=socketio&since=2025-11-17").get_data(as_text=True)
    assert "Started: 2" in page
    empty = coordinator.get("/funnel?since=2030-01-01").get_data(as_text=True)
    assert "No screening matches these filters yet." in empty
