"""The funnel page: charts of how far patients get, and where they stop or are ruled out."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from bot import funnel as funnel_data
from bot.console import charts, trials
from bot.console.auth import settings
from bot.console.formatting import channel_name
from bot.console.params import choice, day_range, parse_day
from bot.db import session_scope

bp = Blueprint("funnel", __name__)

# The weekly chart shows this many weeks at most (the latest); the table below it has them all.
WEEKS_SHOWN = 26
DROP_OFFS_SHOWN = 10
WEEK_SERIES = (
    ("started", "s0", "Started"),
    ("may_qualify", "s3", "May qualify"),
    ("left_details", "s4", "Left details"),
    ("enrolled", "s6", "Enrolled"),
)
DROP_SERIES = (("left", "Stopped or went quiet"), ("ruled-out", "Ruled out"))


def _stages(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [(label, counts[stage]) for stage, label in funnel_data.STAGES]


@bp.route("/funnel")
def funnel() -> ResponseReturnValue:
    args = request.args
    tz = settings().timezone
    since, until = parse_day(args.get("since")), parse_day(args.get("until"))
    start, end = day_range(since, until, tz)
    with session_scope() as db:
        trial_ids, channels = funnel_data.known_values(db)
        filters = funnel_data.Filters(
            trial_id=choice(args.get("trial"), trial_ids),
            channel=choice(args.get("channel"), channels),
            since=start,
            until=end,
        )
        data = funnel_data.funnel(db, filters, tz)
    codes = dict(trials.trial_choices(trial_ids))

    overall = charts.funnel_chart("funnel-overall", "All screenings", _stages(data.overall))
    by_trial = [
        (codes.get(t, t), _small_funnel(f"funnel-trial-{i}", f"Trial {codes.get(t, t)}", c), c)
        for i, (t, c) in enumerate(data.by_trial.items())
    ]
    by_channel = [
        (channel_name(ch), _small_funnel(f"funnel-channel-{i}", channel_name(ch), c), c)
        for i, (ch, c) in enumerate(data.by_channel.items())
    ]
    weeks = list(data.by_week.items())
    weekly = charts.column_chart(
        "funnel-weekly",
        "Screenings by week",
        [(f"{w:%d %b}", [c[s] for s, _, _ in WEEK_SERIES]) for w, c in weeks[-WEEKS_SHOWN:]],
        [(css, label) for _, css, label in WEEK_SERIES],
    )
    several_trials = len({d.trial_id for d in data.drop_offs}) > 1
    drop_rows = [
        (_drop_label(d, codes, several_trials), [d.left, d.ruled_out])
        for d in data.drop_offs[:DROP_OFFS_SHOWN]
    ]
    drop_chart = charts.stacked_bar_chart(
        "funnel-dropoff", "Where patients stop or are ruled out", drop_rows, DROP_SERIES
    )
    form = {
        "trial": filters.trial_id or "", "channel": filters.channel or "",
        "since": since.isoformat() if since else "", "until": until.isoformat() if until else "",
    }
    return render_template(
        "funnel.html",
        data=data,
        stages=funnel_data.STAGES,
        overall=overall,
        by_trial=by_trial,
        by_channel=by_channel,
        weekly=weekly,
        weeks=weeks,
        week_series=WEEK_SERIES,
        drop_chart=drop_chart,
        drop_rows=drop_rows,
        form=form,
        trials=trials.trial_choices(trial_ids),
        channels=channels,
    )


def _small_funnel(chart_id: str, title: str, counts: dict[str, int]) -> charts.HBarChart:
    return charts.funnel_chart(chart_id, title, _stages(counts), label_width=170, width=520)


def _drop_label(drop: funnel_data.DropOff, codes: dict[str, str], several_trials: bool) -> str:
    text = trials.question_text(drop.trial_id, drop.question_id)
    return f"{codes.get(drop.trial_id, drop.trial_id)}: {text}" if several_trials else text
