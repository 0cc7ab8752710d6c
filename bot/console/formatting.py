"""How values read on the console's pages: local times, and words for stored codes."""

from __future__ import annotations

from datetime import date, datetime, timezone

from flask import Flask, current_app

from bot.console.audit import Action
from bot.models import LeadStatus, ScreeningStatus

LEAD_STATUS = {
    LeadStatus.NEW: "New",
    LeadStatus.CONTACTED: "Contacted",
    LeadStatus.SCHEDULED: "Scheduled",
    LeadStatus.ENROLLED: "Enrolled",
    LeadStatus.NOT_ENROLLED: "Not enrolled",
}

SCREENING_STATUS = {
    ScreeningStatus.STARTED: "Started, not consented",
    ScreeningStatus.DECLINED: "Declined the questions",
    ScreeningStatus.IN_PROGRESS: "In progress",
    ScreeningStatus.NOT_ELIGIBLE: "Ruled out",
    ScreeningStatus.MAY_QUALIFY: "May qualify",
    ScreeningStatus.MAY_QUALIFY_CONFIRM: "May qualify, site to confirm",
    ScreeningStatus.STOPPED: "Stopped",
    ScreeningStatus.RESTARTED: "Started over",
    ScreeningStatus.NOT_SCREENED: "Not pre-screened (contact form)",
}

VERDICT = {
    "met": "Met",
    "not_met": "Not met",
    "needs_confirmation": "Site to confirm",
    "not_asked": "Not asked",
}


# What each channel is called by the people who use it (Screening.channel holds Rasa's name).
CHANNEL_NAMES = {
    "socketio": "Web chat",
    "telegram": "Telegram",
    "twilio": "SMS",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "twilio_whatsapp": "WhatsApp",
    "wechat": "WeChat",
    "rest": "API",
    "callback": "API",
    "cmdline": "Command line",
    "site_form": "Contact form",
}


def channel_name(channel: str | None) -> str:
    if not channel:
        return "Unknown"
    return CHANNEL_NAMES.get(channel, CHANNEL_NAMES.get(channel.split("_")[0], channel))


def as_utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back without a time zone."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def local(value: datetime | None, fmt: str = "%d %b %Y %H:%M") -> str:
    if value is None:
        return ""
    return as_utc(value).astimezone(current_app.config["CONSOLE"].timezone).strftime(fmt)


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local(value, "%d %b %Y")
    return value.strftime("%d %b %Y")


def language_name(code: str | None) -> str:
    """A conversation's language as staff read it: "Chinese (zh)"; the bot's English words
    name each language it speaks (``language_name_<code>``)."""
    from bot.messages import catalogue

    code = code or "en"
    return f"{catalogue('en').get(f'language_name_{code}', code)} ({code})"


def register(app: Flask) -> None:
    app.add_template_filter(local, "local")
    app.add_template_filter(language_name, "language_name")
    app.add_template_filter(day, "day")
    app.add_template_filter(channel_name, "channel_name")
    app.add_template_global(LEAD_STATUS, "LEAD_STATUS")
    app.add_template_global(SCREENING_STATUS, "SCREENING_STATUS")
    app.add_template_global(VERDICT, "VERDICT")
    app.add_template_global(Action.LABELS, "AUDIT_ACTIONS")
