"""What each messaging channel can show: buttons or not, and how long a message may be."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelProfile:
    buttons: bool
    max_length: int


# SMS and WhatsApp through Twilio show text only; Twilio caps a message body at 1600 characters.
# Telegram caps at 4096 characters and shows buttons as a reply keyboard.
# WeChat's customer-service text messages stop at 2048 bytes (errcode 45002): 600 characters is
# 1,800 bytes of Chinese; no buttons (channels/wechat.py writes them as numbered options).
_PROFILES = {
    "twilio": ChannelProfile(buttons=False, max_length=1600),
    "telegram": ChannelProfile(buttons=True, max_length=4096),
    "wechat": ChannelProfile(buttons=False, max_length=600),
    "socketio": ChannelProfile(buttons=True, max_length=10_000),
    "rest": ChannelProfile(buttons=True, max_length=10_000),
}
_DEFAULT = ChannelProfile(buttons=True, max_length=10_000)


def profile(channel: str) -> ChannelProfile:
    return _PROFILES.get(channel, _DEFAULT)


def split_message(text: str, limit: int) -> list[str]:
    """Split at paragraph, then sentence, then word boundaries so no part exceeds ``limit``."""
    if len(text) <= limit:
        return [text]

    def words(sentence: str) -> list[str]:
        return _pack(sentence.split(" "), " ", limit, _hard_split(limit))

    def sentences(paragraph: str) -> list[str]:
        # A sentence keeps the space after it; a Chinese one ends at 。！？ with none.
        pieces = re.split(r"(?<=[.!?]\s)|(?<=[。！？])", paragraph)
        return [p.strip() for p in _pack(pieces, "", limit, words)]

    return [p for p in _pack(text.split("\n\n"), "\n\n", limit, sentences) if p]


def _hard_split(limit: int) -> Callable[[str], list[str]]:
    return lambda word: [word[i : i + limit] for i in range(0, len(word), limit)]


def _pack(
    pieces: list[str], sep: str, limit: int, split_further: Callable[[str], list[str]]
) -> list[str]:
    """Join pieces greedily with ``sep`` up to ``limit``, splitting any piece that is too long."""
    parts: list[str] = []
    current = ""
    for piece in pieces:
        for sub in [piece] if len(piece) <= limit else split_further(piece):
            candidate = f"{current}{sep}{sub}" if current else sub
            if len(candidate) <= limit:
                current = candidate
            else:
                if current:
                    parts.append(current)
                current = sub
    if current:
        parts.append(current)
    return parts
