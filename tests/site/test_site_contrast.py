"""The page's colours meet WCAG 2.1 AA: computed from the stylesheet, not asserted.

Text needs 4.5:1 against its background (1.4.3); borders of controls and the focus ring need 3:1
(1.4.11). Every colour the stylesheet uses for text or a background must appear in PAIRS, so a new
colour cannot skip the check.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "bot" / "site" / "static" / "site.css"
TEXT, NON_TEXT = 4.5, 3.0

# (foreground, background, minimum, where it is used)
PAIRS = [
    ("ink", "page", TEXT, "body text, bot-less page"),
    ("ink", "hero", TEXT, "the trial's title and summary"),
    ("ink", "bot-bubble", TEXT, "the assistant's messages"),
    ("ink", "surface", TEXT, "facts, footer"),
    ("muted", "page", TEXT, "hints, the typing status"),
    ("muted", "hero", TEXT, "the trial id above the title"),
    ("muted", "surface", TEXT, "fact labels, footer"),
    ("brand", "page", TEXT, "links, quick replies, the start-over button"),
    ("brand", "hero", TEXT, "links in the header"),
    ("brand-dark", "page", TEXT, "hovered links"),
    ("on-brand", "brand", TEXT, "buttons, the patient's messages"),
    ("on-brand", "brand-dark", TEXT, "hovered buttons, the skip link"),
    ("open-ink", "open-bg", TEXT, "the recruiting badge"),
    ("closed-ink", "closed-bg", TEXT, "a closed trial's badge"),
    ("border", "page", NON_TEXT, "the answer field's border"),
    ("brand", "page", NON_TEXT, "quick-reply borders"),
    ("focus", "page", NON_TEXT, "the focus ring"),
    ("focus", "hero", NON_TEXT, "the focus ring in the header"),
    ("focus", "bot-bubble", NON_TEXT, "the focus ring on a quick reply"),
    # The contact form and the sign-up, on their surface.
    ("brand", "surface", TEXT, "links in the primary contact"),
    ("error", "surface", TEXT, "a field's problem"),
    ("error", "page", TEXT, "the form's problems box"),
    ("error", "surface", NON_TEXT, "the border of a field with a problem"),
    ("border", "surface", NON_TEXT, "the fields' borders"),
    ("focus", "surface", NON_TEXT, "the focus ring in the forms"),
]


def palette() -> dict[str, str]:
    root = re.search(r":root\s*{([^}]*)}", CSS.read_text()).group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", root))


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near-miss
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


@pytest.mark.parametrize(("fg", "bg", "minimum", "where"), PAIRS)
def test_each_pair_meets_aa(fg, bg, minimum, where):
    colours = palette()
    ratio = contrast(colours[fg], colours[bg])
    assert ratio >= minimum, f"{where}: --{fg} on --{bg} is {ratio:.2f}:1, needs {minimum}:1"


def test_every_colour_the_stylesheet_uses_is_checked():
    css = CSS.read_text()
    used_fg = set(re.findall(r"(?<![-\w])color:\s*var\(--([\w-]+)\)", css))
    used_fg |= set(re.findall(r"outline:[^;]*var\(--([\w-]+)\)", css))
    used_bg = set(re.findall(r"background(?:-color)?:\s*var\(--([\w-]+)\)", css))
    checked_fg = {fg for fg, _, _, _ in PAIRS}
    checked_bg = {bg for _, bg, _, _ in PAIRS}
    assert used_fg <= checked_fg, f"text colours without a contrast check: {used_fg - checked_fg}"
    assert used_bg <= checked_bg, f"backgrounds without a contrast check: {used_bg - checked_bg}"
    assert not re.search(r"(?<![-\w])(color|background):\s*#", css), "use the palette's variables"
