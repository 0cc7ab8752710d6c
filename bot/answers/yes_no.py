"""Yes, no or unsure; "I don't know"; "none" as a reply about medicines."""

from __future__ import annotations

import re
from typing import Literal

from bot.answers.text import _phrases, normalise
from bot.answers.words import alone, canonical, word_list

YesNo = Literal["yes", "no", "unsure"]

_NOT = (
    r"(?:do ?n'?t|do not|doesn'?t|does not|did ?n'?t|did not|ca ?n'?t|can not|cannot|"
    r"could ?n'?t)"
)
# "Not sure", "don't know" and the like: the patient does not know.
_UNSURE = _phrases(
    r"not (?:(?:so|too|very|really|quite|entirely|totally|completely|that|at all|100 ?%?|"
    r"a hundred (?:%|percent)) )?(?:sure|certain|positive)",
    r"unsure|uncertain|unknown|not known|dunno|idk|idek|no idea|no clue|not a clue|clueless",
    r"(?:have ?n'?t|have not|haven'?t got|have not got) (?:a|any) (?:clue|idea)",
    rf"(?:i )?{_NOT} know",
    r"dont know|do not know|doesnt know|didnt know|dont no|don't no|who knows|god knows",
    r"hard to (?:say|tell)|ca ?n'?t say|cannot say|can not say|ca ?n'?t tell|cannot tell",
    rf"{_NOT} (?:remember|recall|recollect)|dont remember|cant remember|dont recall|cant recall",
    r"not remember|no memory|i forg[eo]t|forgotten|i'?ve forgotten|forgot",
    r"maybe|mayb|perhaps|possibly|might be|may be",
)
# Amounts of time before "ago" in "but that was 10 years ago".
_AGO_AMOUNT = (
    r"(?:about|over|around|like|almost|nearly|more than|at least|a|an|few|a few|couple|a couple of|"
    r"many|several|\d+|[a-z]+ty|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
)
_AGO_UNIT = r"(?:years?|yrs?|months?|decades?|ages)"
# Hedged answers: a yes or no the site would still have to confirm.
_HEDGED = _phrases(
    r"probably|prob|probs|likely|unlikely|i think|think so|i believe|believe so|i guess|i suppose",
    r"i reckon|i hope|hopefully|i doubt|doubt it|doubtful|might|might have|may have|could be",
    r"could have|sort of|kind of|kinda|sorta|more or less|somewhat|a little|a bit|slightly",
    r"pretty sure|fairly sure|quite sure|almost sure|nearly sure|reasonably sure",
    r"not that i(?:'m| am)? (?:know|aware)(?: of)?|not as far as i (?:know|can tell|remember)",
    r"as far as i (?:know|can tell|remember)|to my knowledge|i assume|presumably|apparently",
    r"sometimes|occasionally|on and off|off and on|now and then|partly|partially|depends",
    r"it depends|yes and no|yes or no|yes no|no yes|used to|not exactly|not always",
    r"not necessarily|not completely|not entirely|not fully|not quite|sometime",
    # Not (yet) diagnosed, decided or asked: "not officially, they think it's lupus".
    r"not officially|not formally|not (?:yet )?confirmed|not diagnosed yet|suspected",
    r"(?:they|doctors?|he|she) (?:think|thinks|thought|suspect|suspects|suspected)",
    r"(?:has ?n'?t|have ?n'?t|hasnt|havent|has not|have not|not yet|not) (?:yet )?"
    r"(?:decided|asked|made up (?:her|his|their|my) mind)",
    r"still deciding|undecided|thinking about it|thinking it over|wants? to know more",
    r"(?:a |some )?(?:small|slight|tiny) chance|some chance",
    # A refusal is not a "no": "I'd rather not say".
    r"(?:i'?d|i would|i'?ll|id) rather not(?: say| answer| tell)?|rather not (?:say|answer|tell)",
    r"prefer not to (?:say|answer|tell)|(?:do ?n'?t|dont|do not) want to (?:say|answer|tell)",
    r"not telling|none of your business",
    # "Yes, but that was 10 years ago": the question's time window decides, so the site does.
    rf"but (?:that|it|this|they) (?:was|were) (?:{_AGO_AMOUNT} )*{_AGO_UNIT} ago",
    r"but (?:that|it|this|they) (?:was|were) (?:a )?(?:very )?long (?:time )?ago",
    r"but (?:that|it|this|they) (?:was|were) (?:back )?in (?:19|20)\d\d",
    # "No, but I just finished a Z-pack": something recent the "no" does not cover.
    r"(?:no|nope|nah),? but i (?:just|only just|recently) (?:finished|stopped|had|took|started|"
    r"came off)",
)
# A dose that changed: "yes but my pred went down", "they lowered my prednisone". Beside a plain
# "no" it agrees with it ("no, my doctor upped the pred last week"); beside a "yes", or alone, it
# contradicts or replaces the answer, so the site confirms.
_CHANGED = _phrases(
    r"(?:went|gone|go|was|were|been|got|has been|have been) (?:down|up|lowered|increased|reduced|"
    r"decreased|changed|cut|raised|upped|dropped|doubled|halved)",
    r"lowered|increased|reduced|decreased|tapering|tapered|weaning off|upped|halved|doubled",
    r"cut (?:down|back|my|the|his|her)",
)
# Words that say nothing changed: a "no" inside them is no answer. Whether "nothing changed" means
# yes or no depends on the question ("have your doses stayed the same?" or "has anything
# changed?"), so alone they leave the answer for the site; next to a plain yes they are a yes.
_NO_CHANGE = _phrases(
    r"no (?:change|changes|changed)|nothing(?: has|'s| 's| have)? (?:changed|different)",
    r"(?:not|never|has ?n'?t|hasnt|have ?n'?t|havent|did ?n'?t|didnt|has not|have not|did not|"
    r"were ?n'?t|werent|was ?n'?t|wasnt) (?:been )?chang(?:ed|e)",
    r"unchanged|(?:the )?same(?: as (?:always|before|ever|usual|it was))?",
)
# Words that neither answer nor hedge: "I'm sure", "no problem" (an agreement, not a "no").
_NEUTRAL = _phrases(
    r"i'?m sure|i am sure|im sure|for sure|make sure|making sure|to be sure",
    r"no problem|no problems|no worries|no prob|no rush|no hurry",
)
_NO = _phrases(
    r"(?:definitely|def|absolutely|certainly|of course|surely|hell|heck|really|still|sadly) not",
    r"not (?:really|at all|ever|once|yet|any ?more|now|currently|today|lately|recently|true|"
    r"correct|right|so|me)",
    r"no longer|never|none|nothing|nope+|nah+|nay|negative|no way|neither|nil|nada|noo+",
    r"false|untrue|wrong|incorrect|not the case|neg|-ve|nkda|nka",
    r"(?:does ?n'?t|doesnt|does not|do ?n'?t|dont|do not|did ?n'?t|didnt|did not) (?:really )?"
    r"(?:agree|want (?:me )?to|like (?:it|the idea))",
    r"i (?:do ?n'?t|do not|dont|have ?n'?t|have not|havent|'?ve not|'?ve never|have never|am not|"
    r"'?m not|did ?n'?t|didnt|did not|was ?n'?t|wasnt|was not|wo ?n'?t|will not|ca ?n'?t|cannot|"
    r"can not|ai ?n'?t|never)",
    r"im not|i m not|i'm not|i've not|i'?ve never",
    r"do ?n'?t|dont|do not|have ?n'?t|havent|have not|has ?n'?t|hasnt|has not|is ?n'?t|isnt|"
    r"is not|am not|are ?n'?t|arent|are not|was ?n'?t|wasnt|was not|were ?n'?t|werent|did ?n'?t|"
    r"didnt|did not|wo ?n'?t|wont|not",
    r"no",
)
_NEGATION_AHEAD = r"(?!\s+(?:not|never|no|none|nothing|any|n't)\b)"
# "I am", "I do", "yes I have": a yes only when nothing follows ("I am a man" is no answer).
_AUX_ALONE = (
    r"(?:\s+(?:indeed|actually|too|yes|yeah|already|still|sadly|unfortunately))?"
    r"(?=\s*(?:$|[,.;!]|and\b|but\b|yes\b|yeah\b))"
)
_YES = _phrases(
    r"(?:that'?s|that is|thats|it'?s|it is|quite|exactly|yes|yeah) (?:right|correct|true|it)",
    r"of course|ofc|definitely|absolutely|certainly|indeed|affirmative|correct|true|exactly",
    r"totally|sure|surely|yes please|uh huh|uh-huh|mhm+|mm hmm|yessir",
    r"ye+s+|ye+a+h*|yeh|yah|yh|ya+|yu+p+|ye+p+|yas+|ys|yse|yez",
    # A test result: "positive", "ANA+".
    r"positive|\+ve|[a-z]+\+",
    r"(?:agrees?|agreed)|(?:says|said) (?:ok|okay|yes|fine|it'?s fine|that'?s fine)",
    rf"i (?:do|am|have|did|was|will|can|does){_AUX_ALONE}",
    rf"i(?: have|'ve| ve|ve) (?:been|had|got){_NEGATION_AHEAD}|i (?:take|use){_NEGATION_AHEAD}",
)
# "Always" is a yes only on its own: "tired all the time" describes something else.
_ALWAYS = frozenset(word_list("yes_alone"))
_YES_EMOJI = frozenset(word_list("yes_emoji"))
_NO_EMOJI = frozenset(word_list("no_emoji"))
_UNSURE_EMOJI = frozenset(word_list("unsure_emoji"))


def _claim(text: str, pattern: re.Pattern[str], taken: list[tuple[int, int]]) -> int:
    """Count the matches of ``pattern`` that overlap no earlier claim, and claim them."""
    found = 0
    for m in pattern.finditer(text):
        if m.end() == m.start():
            continue
        if all(m.end() <= a or m.start() >= b for a, b in taken):
            taken.append(m.span())
            found += 1
    return found


def _has_emoji(text: str, emoji: frozenset[str]) -> bool:
    return any(ch in emoji for ch in text)


def parse_yes_no(text: str) -> YesNo | None:
    """"yes", "no" or "unsure" for a reply to a yes/no question; None if it is none of them.

    Hedged answers ("I think so", "probably not") and contradictory ones ("yes and no") are
    "unsure": the site must confirm them. An "I don't know" never counts as a "no". A reply in
    another language is read in the parsers' words first (``bot/answers/words``).
    """
    whole = alone(text, "yes_no")
    if whole is not None:
        return whole  # type: ignore[return-value]
    text = canonical(text, "yes_no")
    if is_unsure(text) or _has_emoji(text, _UNSURE_EMOJI):
        return "unsure"
    t = normalise(text)
    yes = _has_emoji(text, _YES_EMOJI)
    no = _has_emoji(text, _NO_EMOJI)
    if t in ("y", "right") or t in _ALWAYS:
        yes = True
    elif t == "n":
        no = True
    elif t:
        taken: list[tuple[int, int]] = []
        if _claim(t, _HEDGED, taken):
            return "unsure"
        _claim(t, _NEUTRAL, taken)
        changed = _claim(t, _CHANGED, taken) > 0
        no_change = _claim(t, _NO_CHANGE, taken) > 0
        no = _claim(t, _NO, taken) > 0 or no
        yes = _claim(t, _YES, taken) > 0 or yes
        if changed:
            return "no" if no and not yes and not no_change else "unsure"
        if no_change:
            return "yes" if yes and not no else "unsure"
    if yes and no:
        return "unsure"
    if yes:
        return "yes"
    if no:
        return "no"
    return None


def is_unsure(text: str) -> bool:
    """True when the patient says they do not know ("not sure", "idk", "can't remember", "?").

    Any such phrase counts, even next to an answer ("maybe 3 months"): a doubtful answer is
    left for the site to confirm rather than taken at face value.
    """
    marks = set(text) - set(" \t\r\n!.")
    if marks and marks <= {"?", "¿", "？"}:
        return True
    return _UNSURE.search(normalise(canonical(text, "yes_no"))) is not None


_NONE_ANSWER = _phrases(
    r"none|nothing|nil|nada|zero|n/a|na|no|nope|nah|not|do ?n'?t|dont|do not",
    rf"(?:i )?(?:{_NOT}|dont|didnt|am not|'?m not|im not|not) "
    r"(?:take|use|have|need|taking|using|on)",
    r"never (?:taken|take|took|had|used)",
)
_MEDICINE_WORDS = r"medicines?|meds?|medications?|drugs?|pills?|tablets?|treatments?|prescriptions?"
# What may surround a "none" without changing it: "nothing for my lupus at the moment, thanks".
_NONE_FILLER = _phrases(
    rf"{_MEDICINE_WORDS}|prescribed|regular|regularly|for (?:my |the )?lupus|for (?:it|that|this)",
    r"at the moment|right now|currently|at present|presently|now|today|these days|at all",
    r"any ?more|any ?thing|any|of (?:them|these|those|the above|the list|those listed)|above",
    r"yet|so far|thanks|thank you|thankyou|sorry|really|actually|honestly|please|well|um+|erm|hmm+",
    r"i'?m|im|i am|i|am|do|does|take|taking|use|using|on|have|having|it|them|that|this|the",
    r"at|all|of|for|my|a|an|and|or|whatsoever|ok|okay|lupus|sle",
)


def is_none_answer(text: str) -> bool:
    """True when the patient says they take no medicines ("none", "no meds", "I don't take any").

    Only when nothing else is said: "no steroids", "nothing except vitamins" or "no, I take
    Lyrica" name something, so they are not "none".
    """
    if is_unsure(text):
        return False
    t = normalise(canonical(text, "none"))
    if not t or _NONE_ANSWER.search(t) is None:
        return False
    rest = _NONE_FILLER.sub(" ", _NONE_ANSWER.sub(" ", t))
    return not re.search(r"[^\W_]", rest)
