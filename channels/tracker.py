"""Rasa's ``DialogueStateTracker`` whose per-turn walks do not grow with the conversation.

Rasa 3.6 recomputes everything a turn needs from the whole session's events, several times a
turn (issue 10: 28% of the Rasa server's busy time in ``applied_events``, 21% in the policies'
``past_states``): ``applied_events()`` replays the undo logic over every event;
``past_states()`` (``Domain.states_for_tracker_history``) builds a fresh tracker and applies
every applied event to it again; ``copy()`` (the processor's temporary tracker for each action,
forms) replays every event into a new tracker. :class:`IncrementalTracker` gives the same
results from work kept between calls:

* ``applied_events()`` keeps Rasa's list and processes only the events appended since, with
  Rasa's own loop body (``_undo_till_previous``, ``_first_loop_execution_or_unhappy_path``,
  ``_undo_till_previous_loop_execution``). Rasa's loop reads the names of every loop the
  events ever activate, later events included; when a new name appears and an earlier event
  executed an action of that name, the list is computed again by Rasa's own method. The events
  live in :class:`_Events`, a deque that counts every change other than adding at the end:
  after such a change (or a new ``events`` object, or ``max_event_history``, whose deque drops
  old events) Rasa's own computation runs.
* ``past_states(domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data)`` keeps, per
  argument set and domain object, Rasa's replay (``generate_all_prior_trackers``'s tracker,
  the states so far and ``states_for_tracker_history``'s two loop variables) up to the last
  ``ActionExecuted``, and continues it from there with Rasa's loop body; the events after it
  are replayed on a copy for each call (they are the ones an undo can take away: a form's
  happy path removes the turn's ``action_listen``, user message and featurisation event when
  the form runs again). Each change to the applied list records the lowest position it
  touched; a replay past that point, or one whose user messages changed since (a
  ``DefinePrevUserUtteredFeaturization`` or ``EntitiesAdded`` rewrites the message object in
  place, and Rasa's replay reads the object as it is now), is thrown away and started again.
  Callers change the states they get (``TrackerFeaturizer._choose_last_user_input`` and
  ``_remove_user_text_if_intent`` delete keys of a state's ``user`` part), so every call
  returns fresh copies of the states and of their parts, shared between states exactly where
  Rasa's are (the ignore-rule-only-turns replay gives several states one ``user`` or
  ``prev_action`` dict).
* ``copy()`` (Rasa: a new tracker replaying every event) is a copy of a *replica*: a plain
  tracker fed the same events one by one since the start, which is exactly the tracker Rasa's
  replay builds; the live tracker itself may differ from it (the processor clears
  ``followup_action`` without an event, the action-call guard sets it), which is why the copy
  is not taken from the live tracker. The copy is an :class:`IncrementalTracker` with the
  applied events and the replica carried over.
* ``get_last_event_for`` (applied verbosity) searches the kept list instead of a new one, and
  ``idx_after_latest_restart`` remembers the latest ``Restarted``.
* :func:`install` (called by ``channels.action_calls.install``, which patches Rasa when the
  server starts) has Rasa's ``FormAction._temporary_tracker``, which a form builds for each
  validation call by replaying every event into a new tracker, take the same tracker as a
  ``copy()`` of this one plus its extra events, when that is the same thing: no ``Restarted``
  in the events (Rasa replays those after the latest one), the domain's slots (Rasa's
  ``slots=domain.slots``), not a rule tracker.

``tests/test_incremental_tracker.py`` replays every test story, story and rule and checks, at
every event, ``applied_events()``, ``past_states`` with each argument set the policies use,
``copy()`` and the restart index against Rasa's own functions on a plain tracker, with
reverts, restarts, session starts and forms' undo. On a running server,
``INCREMENTAL_TRACKER_CHECK=<file>`` also computes every result Rasa's way, uses Rasa's, and
appends a line to that file for each one that differs (the method and the number of events,
nothing of the conversation) and one per 200 checks: a way to check it on real conversations
(the end-to-end suites), far too slow for production.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    DefinePrevUserUtteredFeaturization,
    Event,
    Restarted,
    SessionStarted,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

_CHECK_FILE = os.environ.get("INCREMENTAL_TRACKER_CHECK") or None
_checks = [0]


def _checked(method: str, same: bool, events: int) -> None:
    """Note one comparison with Rasa's own result (INCREMENTAL_TRACKER_CHECK)."""
    _checks[0] += 1
    lines = [] if same else [f"DIFFERS {method} at {events} events"]
    if _checks[0] % 200 == 0:
        lines.append(f"checked {_checks[0]} (pid {os.getpid()})")
    if lines and _CHECK_FILE:
        with open(_CHECK_FILE, "a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))


def _alias_pattern(states: list[State]) -> list[list[int]]:
    first: dict[int, int] = {}
    return [[first.setdefault(id(state[key]), len(first)) for key in sorted(state)]
            for state in states]


class _Events(deque):
    """The tracker's events: a deque that counts every change other than adding at the end,
    so the tracker knows when what it kept no longer describes its events."""

    def __init__(self, iterable: Iterable[Event] = (), maxlen: int | None = None) -> None:
        super().__init__(iterable, maxlen)
        self.changes = 0

    def _changed(self) -> None:
        self.changes += 1

    def appendleft(self, x: Any) -> None:
        self._changed()
        super().appendleft(x)

    def extendleft(self, iterable: Iterable[Any]) -> None:
        self._changed()
        super().extendleft(iterable)

    def clear(self) -> None:
        self._changed()
        super().clear()

    def insert(self, i: int, x: Any) -> None:
        self._changed()
        super().insert(i, x)

    def pop(self) -> Any:
        self._changed()
        return super().pop()

    def popleft(self) -> Any:
        self._changed()
        return super().popleft()

    def remove(self, value: Any) -> None:
        self._changed()
        super().remove(value)

    def reverse(self) -> None:
        self._changed()
        super().reverse()

    def rotate(self, n: int = 1) -> None:
        self._changed()
        super().rotate(n)

    def __setitem__(self, i: Any, value: Any) -> None:
        self._changed()
        super().__setitem__(i, value)

    def __delitem__(self, i: Any) -> None:
        self._changed()
        super().__delitem__(i)

    def __imul__(self, n: int) -> _Events:
        self._changed()
        return super().__imul__(n)


def _tracked(events: Any) -> bool:
    return isinstance(events, _Events) and events.maxlen is None


def message_key(event: UserUttered) -> tuple[Any, ...]:
    """What the states read from a user message, which events change in place."""
    return (event.use_text_for_featurization, event.text, event.intent_name,
            [dict(e) for e in event.entities])


def _state_copy(source: DialogueStateTracker, cls: type) -> Any:
    """A tracker of class ``cls`` in ``source``'s state (its events not copied: the caller
    sets them). Slots, the active loop and the latest action are copies, as Rasa's replay
    would make them; events are shared, as in Rasa's replay."""
    new = cls.__new__(cls)
    new.__dict__.update(
        {k: v for k, v in source.__dict__.items() if not k.startswith("_inc_")}
    )
    new.slots = {name: copy.copy(slot) for name, slot in source.slots.items()}
    if source.active_loop is not None:
        new.active_loop = dataclasses.replace(source.active_loop)
    if source.latest_action is not None:
        new.latest_action = dict(source.latest_action)
    return new


def _plain_copy(source: DialogueStateTracker) -> DialogueStateTracker:
    new = _state_copy(source, DialogueStateTracker)
    new.events = deque(source.events, source.events.maxlen)
    return new


def _fresh_states(states: list[State]) -> list[State]:
    """Copies of ``states`` and of their parts, a part shared by two states staying shared."""
    copies: dict[int, dict[str, Any]] = {}
    out = []
    for state in states:
        new = {}
        for key, part in state.items():
            found = copies.get(id(part))
            if found is None:
                found = copies[id(part)] = dict(part)
            new[key] = found
        out.append(new)
    return out


@dataclasses.dataclass
class _Replay:
    """``states_for_tracker_history`` stopped before the applied event ``cursor``."""

    domain: Domain
    omit_unset_slots: bool
    ignore_rule_only_turns: bool
    rule_only_data: dict[str, Any] | None
    tracker: DialogueStateTracker  # generate_all_prior_trackers' tracker at ``cursor``
    cursor: int = 0
    low: int = 0  # the lowest position the applied list changed at since the last sync
    states: list[State] = dataclasses.field(default_factory=list)
    last_ml_action_sub_state: dict[str, Any] | None = None
    turn_was_hidden: bool = False
    users: list[tuple[UserUttered, tuple[Any, ...]]] = dataclasses.field(default_factory=list)

    def step(self, tracker: DialogueStateTracker, hide_rule_turn: bool, states: list[State],
             before: list[State], last_ml: Any, hidden: bool) -> tuple[Any, bool]:
        """Rasa's loop body for one prior tracker (``Domain.states_for_tracker_history``);
        ``before`` are the states ahead of ``states`` (for ``states[-1]``)."""
        domain = self.domain
        if self.ignore_rule_only_turns:
            if not hidden:
                last_ml = domain._get_prev_action_sub_state(tracker)
            if (
                not tracker.followup_action
                and not tracker.latest_action_name == tracker.active_loop_name  # noqa: SIM201 (Rasa's)
            ):
                hidden = hide_rule_turn
            if hidden:
                return last_ml, hidden
        state = domain.get_active_state(tracker, omit_unset_slots=self.omit_unset_slots)
        if self.ignore_rule_only_turns:
            domain._remove_rule_only_features(state, self.rule_only_data)
            previous = states[-1] if states else (before[-1] if before else None)
            if previous is not None:
                domain._substitute_rule_only_user_input(state, previous)
            if last_ml:
                state[PREVIOUS_ACTION] = last_ml
        states.append(domain._clean_state(state))
        return last_ml, hidden

    def advance(self, applied: list[Event], stop: int) -> None:
        """Carry the kept replay on to the applied event ``stop``."""
        for event in applied[self.cursor:stop]:
            if isinstance(event, ActionExecuted):
                self.last_ml_action_sub_state, self.turn_was_hidden = self.step(
                    self.tracker, event.hide_rule_turn, self.states, [],
                    self.last_ml_action_sub_state, self.turn_was_hidden,
                )
            self.tracker.update(event)
            if isinstance(event, UserUttered):
                self.users.append((event, message_key(event)))
        self.cursor = self.low = max(self.cursor, stop)

    def finish(self, applied: list[Event]) -> list[State]:
        """The states of the whole history: the kept ones, then the rest replayed on a copy."""
        tail = applied[self.cursor:]
        tracker = _plain_copy(self.tracker) if tail else self.tracker
        states: list[State] = []
        last_ml, hidden = self.last_ml_action_sub_state, self.turn_was_hidden
        for event in tail:
            if isinstance(event, ActionExecuted):
                last_ml, hidden = self.step(tracker, event.hide_rule_turn, states, self.states,
                                            last_ml, hidden)
            tracker.update(event)
        self.step(tracker, False, states, self.states, last_ml, hidden)
        return _fresh_states(self.states + states)

    def still_valid(self) -> bool:
        return self.low >= self.cursor and all(message_key(u) == k for u, k in self.users)

    def clone(self) -> _Replay:
        return dataclasses.replace(self, tracker=_plain_copy(self.tracker),
                                   states=list(self.states), users=list(self.users))


class IncrementalTracker(DialogueStateTracker):
    """A ``DialogueStateTracker`` keeping its applied events, past states and replay copy
    between calls (see the module docstring); every result is Rasa's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inc_reset()

    def _inc_reset(self) -> None:
        self._inc_events: Any = None  # the events object the kept lists describe
        self._inc_changes = -1
        self._inc_seen = 0  # events processed into _inc_applied
        self._inc_applied: list[Event] = []
        self._inc_loops: set[str] = set()
        self._inc_action_names: set[str | None] = set()
        self._inc_replays: dict[tuple[Any, ...], _Replay] = {}
        self._inc_replica: DialogueStateTracker | None = None
        self._inc_replica_events: Any = None
        self._inc_replica_changes = -1
        self._inc_replica_seen = 0
        self._inc_restart = (None, -1, 0, 0)  # events, changes, seen, index after restart
        # Replay arguments the trackers copied from this one asked for (the tracker store
        # carries the replays of the tracker it keeps on with them).
        self._inc_wanted: dict[tuple[Any, ...], tuple[Domain, bool, bool, Any]] = {}

    def _create_events(self, evts: list[Event]) -> deque:
        if evts and not isinstance(evts[0], Event):  # pragma: no cover - Rasa's check
            raise ValueError("events, if given, must be a list of events")
        return _Events(evts, self._max_event_history)

    # --- applied events ------------------------------------------------------------------

    def _same_events(self, seen_events: Any, changes: int, seen: int) -> bool:
        events = self.events
        return (events is seen_events and _tracked(events) and events.changes == changes
                and seen <= len(events))

    def _applied(self) -> list[Event] | None:
        """The kept applied list brought up to date (``None`` when the events are not tracked:
        then only Rasa's own computation is right)."""
        events = self.events
        if not _tracked(events):
            return None
        if not self._same_events(self._inc_events, self._inc_changes, self._inc_seen):
            self._recompute()
            return self._inc_applied
        if self._inc_seen == len(events):
            return self._inc_applied
        new = [events[i] for i in range(self._inc_seen, len(events))]
        names = {e.name for e in new if isinstance(e, ActiveLoop) and e.name}
        if (names - self._inc_loops) & self._inc_action_names:
            # An earlier event executed an action that only now turns out to be a loop.
            self._recompute()
            return self._inc_applied
        self._inc_loops |= names
        for event in new:
            self._apply_one(event)
        self._inc_seen = len(events)
        return self._inc_applied

    def _recompute(self) -> None:
        events = self.events
        before, self._inc_applied = self._inc_applied, super().applied_events()
        # The replays stay good up to where the old and the new list part (by identity).
        same = 0
        for old, new in zip(before, self._inc_applied, strict=False):
            if old is not new:
                break
            same += 1
        self._lowered(same)
        self._inc_loops = {e.name for e in events if isinstance(e, ActiveLoop) and e.name}
        self._inc_action_names = {e.action_name for e in events if isinstance(e, ActionExecuted)}
        self._inc_events, self._inc_changes, self._inc_seen = events, events.changes, len(events)

    def _lowered(self, position: int) -> None:
        for replay in self._inc_replays.values():
            replay.low = min(replay.low, position)

    def _apply_one(self, event: Event) -> None:
        """One iteration of Rasa's ``applied_events`` loop, noting where the list changed."""
        applied = self._inc_applied
        if isinstance(event, ActionExecuted):
            self._inc_action_names.add(event.action_name)
        if isinstance(event, (Restarted, SessionStarted)):
            applied.clear()  # Rasa: applied_events = []
            self._lowered(0)
        elif isinstance(event, ActionReverted):
            self._lowered(_last_index(applied, ActionExecuted))
            self._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            self._lowered(_last_index(applied, UserUttered))
            self._undo_till_previous(UserUttered, applied)
            self._lowered(_last_index(applied, ActionExecuted))
            self._undo_till_previous(ActionExecuted, applied)
        elif (
            isinstance(event, ActionExecuted)
            and event.action_name in self._inc_loops
            and not self._first_loop_execution_or_unhappy_path(event.action_name, applied)
        ):
            self._lowered(_first_undone(event.action_name, applied))
            self._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)

    def applied_events(self) -> list[Event]:
        """Rasa's ``applied_events()``, from the kept list."""
        applied = self._applied()
        if applied is None:
            return super().applied_events()
        if _CHECK_FILE:
            expected = super().applied_events()
            _checked("applied_events", [id(e) for e in expected] == [id(e) for e in applied],
                     len(self.events))
            return expected
        return list(applied)

    def get_last_event_for(
        self,
        event_type: Any,
        action_names_to_exclude: list[str] | None = None,
        skip: int = 0,
        event_verbosity: EventVerbosity = EventVerbosity.APPLIED,
    ) -> Any:
        """Rasa's search, over the kept applied list (no copy) for the applied verbosity."""
        applied = self._applied() if event_verbosity == EventVerbosity.APPLIED else None
        if applied is None:
            return super().get_last_event_for(
                event_type, action_names_to_exclude, skip, event_verbosity
            )
        to_exclude = action_names_to_exclude or []
        found: Iterator[Event] = (
            e for e in reversed(applied)
            if isinstance(e, event_type)
            and not (isinstance(e, ActionExecuted) and e.action_name in to_exclude)
        )
        for _ in range(skip):
            next(found, None)
        return next(found, None)

    def idx_after_latest_restart(self) -> int:
        """Rasa's index after the latest ``Restarted``, scanning only new events."""
        events = self.events
        kept_events, changes, seen, index = self._inc_restart
        if not self._same_events(kept_events, changes, seen):
            if not _tracked(events):
                return super().idx_after_latest_restart()
            seen, index = 0, 0
        for i in range(seen, len(events)):
            if isinstance(events[i], Restarted):
                index = i + 1
        self._inc_restart = (events, events.changes, len(events), index)
        return index

    # --- past states ---------------------------------------------------------------------

    def past_states(
        self,
        domain: Domain,
        omit_unset_slots: bool = False,
        ignore_rule_only_turns: bool = False,
        rule_only_data: dict[str, Any] | None = None,
    ) -> list[State]:
        """Rasa's ``past_states`` (``Domain.states_for_tracker_history``), continued from the
        replay kept for these arguments."""
        applied = self._applied()
        if applied is None:
            return super().past_states(domain, omit_unset_slots, ignore_rule_only_turns,
                                       rule_only_data)
        key = _replay_key(domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        self._inc_wanted.setdefault(
            key, (domain, omit_unset_slots, ignore_rule_only_turns, copy.deepcopy(rule_only_data))
        )
        states = self._replay(key, domain, omit_unset_slots, ignore_rule_only_turns,
                              rule_only_data, applied).finish(applied)
        if _CHECK_FILE:
            expected = super().past_states(domain, omit_unset_slots, ignore_rule_only_turns,
                                           rule_only_data)
            _checked(f"past_states{key[1:3]}", states == expected
                     and _alias_pattern(states) == _alias_pattern(expected), len(self.events))
            return expected
        return states

    def _replay(self, key: tuple[Any, ...], domain: Domain, omit_unset_slots: bool,
                ignore_rule_only_turns: bool, rule_only_data: Any,
                applied: list[Event]) -> _Replay:
        replay = self._inc_replays.get(key)
        if replay is None or replay.domain is not domain or not replay.still_valid():
            replay = _Replay(domain, omit_unset_slots, ignore_rule_only_turns,
                             copy.deepcopy(rule_only_data), self.init_copy())
            self._inc_replays[key] = replay
        replay.advance(applied, max(replay.cursor, _last_index(applied, ActionExecuted)))
        return replay

    def keep_replays(self) -> None:
        """Carry on the replays the copies of this tracker asked for, to its latest event
        (the tracker store's kept tracker, after new events: its copies start from there)."""
        applied = self._applied()
        if applied is None:
            return
        for key, (domain, omit, ignore, rule_only_data) in list(self._inc_wanted.items()):
            self._replay(key, domain, omit, ignore, rule_only_data, applied)

    # --- copies --------------------------------------------------------------------------

    def _replica_now(self) -> DialogueStateTracker | None:
        """A plain tracker fed every event of this one in order since an empty start: the
        tracker Rasa's ``travel_back_in_time`` builds (``None``: events not tracked)."""
        events = self.events
        if not _tracked(events):
            return None
        replica = self._inc_replica
        if replica is None or not self._same_events(
            self._inc_replica_events, self._inc_replica_changes, self._inc_replica_seen
        ):
            replica = DialogueStateTracker.init_copy(self)
            self._inc_replica_seen = 0
        for i in range(self._inc_replica_seen, len(events)):
            replica.update(events[i])
        self._inc_replica = replica
        self._inc_replica_events, self._inc_replica_changes = events, events.changes
        self._inc_replica_seen = len(events)
        return replica

    def copy(self, keep_replays: bool = False) -> DialogueStateTracker:
        """Rasa's ``copy()`` (a new tracker replaying every event), as an
        :class:`IncrementalTracker` carrying over what this one kept; ``keep_replays`` also
        hands it copies of the past-states replays (the tracker store's kept tracker)."""
        replica = self._replica_now()
        applied = self._applied()
        if replica is None or applied is None:
            return super().travel_back_in_time(float("inf"))  # Rasa's copy()
        new = _state_copy(replica, type(self))
        new._inc_reset()
        new.events = _Events(replica.events)
        new._inc_applied = list(applied)
        new._inc_loops = set(self._inc_loops)
        new._inc_action_names = set(self._inc_action_names)
        new._inc_events, new._inc_changes, new._inc_seen = new.events, 0, len(new.events)
        new._inc_replica = _plain_copy(replica)
        new._inc_replica_events, new._inc_replica_changes = new.events, 0
        new._inc_replica_seen = len(new.events)
        if keep_replays:
            new._inc_replays = {k: r.clone() for k, r in self._inc_replays.items()}
            new._inc_wanted = self._inc_wanted  # shared: the store keeps them for the next
        if _CHECK_FILE:
            _checked("copy", _copy_state(new) == _copy_state(
                super().travel_back_in_time(float("inf"))), len(self.events))
        return new

    def travel_back_in_time(self, target_time: float) -> DialogueStateTracker:
        """Rasa's, except that the whole history (``copy()``) is the cheap copy."""
        if target_time == float("inf"):
            return self.copy()
        return super().travel_back_in_time(target_time)


def _copy_state(tracker: DialogueStateTracker) -> tuple[Any, ...]:
    """What a copy is made of (INCREMENTAL_TRACKER_CHECK)."""
    return (
        [id(e) for e in tracker.events],
        {k: (s.value, s.has_been_set) for k, s in tracker.slots.items()},
        tracker.is_paused(), tracker.followup_action, tracker.latest_action,
        next((i for i, e in enumerate(tracker.events) if e is tracker.latest_message), None),
        dataclasses.asdict(tracker.active_loop) if tracker.active_loop else None,
        tracker.model_id, tracker.sender_id, tracker.is_rule_tracker,
    )


def _replay_key(domain: Domain, omit_unset_slots: bool, ignore_rule_only_turns: bool,
                rule_only_data: Any) -> tuple[Any, ...]:
    # rule_only_data is read only when rule-only turns are ignored (Domain's code).
    data = json.dumps(rule_only_data, sort_keys=True, default=repr) if (
        ignore_rule_only_turns and rule_only_data
    ) else None
    return (id(domain), bool(omit_unset_slots), bool(ignore_rule_only_turns), data)


def _last_index(events: list[Event], kind: type) -> int:
    """The position of the last event of ``kind`` (0 when there is none: an undo of it
    empties the list)."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], kind):
            return i
    return 0


def _first_undone(loop_action_name: str, done_events: list[Event]) -> int:
    """The lowest position ``_undo_till_previous_loop_execution`` deletes at (its own scan)."""
    lowest = len(done_events)
    for i in range(len(done_events) - 1, -1, -1):
        e = done_events[i]
        if isinstance(e, ActionExecuted) and e.action_name == loop_action_name:
            break
        if isinstance(e, (ActionExecuted, UserUttered, DefinePrevUserUtteredFeaturization)):
            lowest = i
    return lowest


def install() -> None:
    """Patch Rasa's form validation tracker (see the module docstring); once per process."""
    from rasa.core.actions.forms import FormAction
    from rasa.shared.core.constants import REQUESTED_SLOT
    from rasa.shared.core.events import SlotSet

    rasas = FormAction._temporary_tracker
    if getattr(rasas, "_incremental", False):
        return

    def temporary_tracker(self: Any, current_tracker: DialogueStateTracker,
                          additional_events: list[Event], domain: Domain) -> Any:
        if (
            not isinstance(current_tracker, IncrementalTracker)
            or not _tracked(current_tracker.events)
            or current_tracker.is_rule_tracker
            or not current_tracker.sender_id
            or current_tracker.idx_after_latest_restart() != 0
            or list(current_tracker.slots) != [slot.name for slot in domain.slots]
        ):
            return rasas(self, current_tracker, additional_events, domain)
        tracker = current_tracker.copy()
        # Rasa's extra events, in Rasa's order.
        for event in [SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker)),
                      ActionExecuted(self.name()), *additional_events]:
            tracker.update(event)
        return tracker

    temporary_tracker._incremental = True  # type: ignore[attr-defined]
    temporary_tracker.rasas = rasas  # type: ignore[attr-defined]
    FormAction._temporary_tracker = temporary_tracker
