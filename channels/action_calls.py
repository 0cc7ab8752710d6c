"""Rasa's calls to the action server: a short timeout, and a kind reply when a call fails.

Rasa 3.6 waits ``rasa.core.constants.DEFAULT_REQUEST_TIMEOUT`` (300 s) for the action server,
with no setting for it in ``endpoints.yml`` (``RemoteAction.run`` passes the constant to
``EndpointConfig.request``), and when a call fails, ``MessageProcessor._run_action`` logs the
error, drops the action's events and goes on predicting: the patient gets no answer, or a
question out of turn. So a patient whose action server had died waited in silence, and one
whose action server hung waited five minutes.

:func:`install` changes two things, and nothing else:

* ``RemoteAction`` calls time out after ``ACTION_CALL_TIMEOUT`` seconds (default 6): it sets
  the module constant ``RemoteAction.run`` reads, the one value Rasa uses for that call.
* ``RemoteAction.run`` and ``MessageProcessor._run_action`` are wrapped: when a call fails
  (refused, timed out, or a 5xx; not a form's ordinary rejection, a 400), the processor still
  logs it and drops its events as Rasa does, then the patient is told at once, in their
  language (``action_failed`` in ``bot/locales``), and the turn ends by listening. The tracker
  keeps every slot from before the failed turn, so sending the answer again carries on at the
  same question. Only the action's name and the error's type are logged here.
* A timeout becomes a ``RasaException``, the only error Rasa's slot extraction (a custom slot
  mapping's action, such as language detection) survives; once a call in a message failed, the
  message's later calls fail at once instead of waiting out the timeout again
  (``MessageProcessor.handle_message`` is wrapped to mark the message).

It also saves calls that cannot do anything: ``action_detect_language`` (the ``language`` slot's
custom mapping, run by Rasa after every user message) is called only when
:func:`actions.language_signal.may_change` says the message can change the language, judged on
the very message dict the action would receive; otherwise the mapping gets no event, as it would
have from the action (issue 10: one call less per answer).

Every call sent Rasa's whole tracker, which grows with every turn (15 KiB at the first answer,
110 KiB at the 31st), and Rasa serialised every event for it (``current_state(ALL)``). Now a
call sends only the latest events every reading of them needs (:func:`tail_start`: about 20
events, at the 2nd answer as at the 30th, instead of up to 450), built without serialising the
others (Rasa's ``current_state`` without events, every other field Rasa's own), and of those
:func:`slim_events` leaves out what no action reads (the patient's earlier words and the NLU's
rankings of them, the bot's earlier words). tests/test_slim_tracker.py checks that every reading
in actions/ and rasa-sdk gives the same answer on the tail, on every story, rule, e2e call and
random sequence, and that actions/ has no other reading of the events.

And the calls reuse their connections (:class:`KeptAliveEndpoint`, the action endpoint
``endpoints.yml`` names): Rasa 3.6 opens a new aiohttp session, so a new TCP connection, for
every call. Their bodies are written with ``ujson`` (a dependency of Rasa and Sanic), falling
back to ``json`` for what ujson refuses (:func:`dumps`).

Rasa checks every reply against its response schema with ``jsonschema.validate``, which first
checks the schema itself against the JSON Schema meta-schema, on every call: three quarters of
the validation's time (issue 10's profile: 7% of the Rasa server's busy time). The schema is
checked once here and the reply against it as before (:func:`install`); a reply that fails goes
through Rasa's own validation, so the error raised is Rasa's.

A domain response and a rule cannot do this: the processor swallows the failure before any
policy sees it. :func:`main` is ``rasa`` itself with this installed first (``python -m
channels.action_calls run ...``, as ``bot.deploy.services`` starts Rasa).
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import aiohttp
import rasa.utils.endpoints as endpoints_module
import ujson
from rasa.utils.endpoints import EndpointConfig

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 6.0
LANGUAGE_ACTION = "action_detect_language"
ACTION_LISTEN = "action_listen"
_failure: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "action_call_failure", default=None
)
# Per message: set once an action call failed, so the turn's later calls fail at once.
_turn: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "action_server_turn", default=None
)
_installed = False


# Below the action server's keep-alive (Sanic's KEEP_ALIVE_TIMEOUT, 5 s): the client drops an
# idle connection before the server would, so a call never goes out on one the server closed.
KEEPALIVE_SECONDS = 2.0


def dumps(value: Any) -> str:
    """JSON text of an action call's body: ujson's (several times faster than ``json``'s on a
    tracker; the same JSON, without the spaces, floats' exponents written ``e-5`` for
    ``e-05``), or ``json.dumps``'s, as Rasa's, for anything ujson refuses."""
    try:
        return ujson.dumps(value, escape_forward_slashes=False)
    except (OverflowError, TypeError, ValueError):
        return json.dumps(value)


class KeptAliveEndpoint(EndpointConfig):
    """Rasa's ``EndpointConfig`` whose requests share one aiohttp session per event loop.

    ``EndpointConfig.request`` opens ``self.session()`` for every call and closes it after, so
    each action call paid for a new session and a new connection. Here ``session()`` hands out
    the loop's shared session, and leaving ``async with`` does not close it. Rasa 3.6.11 kept a
    session too and 3.6.15 went back after calls failed on connections the action server had
    closed while idle; those are dropped here first (``KEEPALIVE_SECONDS``). Headers, auth,
    timeouts and everything else are ``EndpointConfig``'s own: only ``session`` is overridden.
    """

    _sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def session(self) -> _Shared:  # type: ignore[override]
        return _Shared(self)

    @classmethod
    def of(cls, endpoint: EndpointConfig | None) -> EndpointConfig | None:
        if endpoint is None or isinstance(endpoint, cls):
            return endpoint
        kept = cls.__new__(cls)
        kept.__dict__.update(endpoint.__dict__)
        return kept


class _Shared:
    """``async with``: the loop's session for this endpoint, left open on exit."""

    def __init__(self, endpoint: KeptAliveEndpoint) -> None:
        self.endpoint = endpoint

    async def __aenter__(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        sessions = KeptAliveEndpoint._sessions
        found = sessions.get(loop)
        if found is None or found.closed:
            # As EndpointConfig.session builds it, with a connector that keeps connections.
            basic = self.endpoint.basic_auth
            found = aiohttp.ClientSession(
                headers=self.endpoint.headers,
                auth=aiohttp.BasicAuth(basic["username"], basic["password"]) if basic else None,
                timeout=aiohttp.ClientTimeout(total=endpoints_module.DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                json_serialize=dumps,
            )
            sessions[loop] = found
        return found

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


# What rasa-sdk and actions/ read from earlier events: their kinds and order (applied_events,
# slots_to_validate, a session's slot events), names and values (slots, actions), a user
# message's intent and channel (actions.session.asked_for, get_latest_input_channel).
# Not read: an earlier message's text and metadata (the actions read the latest message's, from
# the tracker's latest_message, which is sent whole), its intent ranking and response-selector
# rankings, what the bot said (the actions read the store and the latest message, never earlier
# replies), and the bookkeeping Rasa adds to every other event (its metadata: model and
# assistant ids; the policy and confidence that chose an action).
_DROPPED_USER = ("text", "metadata", "message_id")
_DROPPED_PARSE_DATA = ("intent_ranking", "response_selector", "text", "metadata", "message_id")
_DROPPED_BOT = ("text", "data", "metadata")
_DROPPED_OTHER = ("metadata", "policy", "confidence", "action_text", "hide_rule_turn")


def slim_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tracker's events as the action server needs them (see above); the latest user
    message is kept whole (it is also the tracker's ``latest_message``)."""
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    slim = []
    for i, event in enumerate(events):
        kind = event.get("event")
        if kind == "user" and i != last_user:
            slim_user = {k: v for k, v in event.items() if k not in _DROPPED_USER}
            if isinstance(event.get("parse_data"), dict):
                slim_user["parse_data"] = {k: v for k, v in event["parse_data"].items()
                                           if k not in _DROPPED_PARSE_DATA}
            event = slim_user
        elif kind == "bot":
            event = {k: v for k, v in event.items() if k not in _DROPPED_BOT}
        elif kind != "user":
            event = {k: v for k, v in event.items() if k not in _DROPPED_OTHER}
        slim.append(event)
    return slim


# The actions whose reading of the events goes back to the latest session start: the consent
# slot actions.session.set_in_this_session is asked about (tests/test_slim_tracker.py finds
# every call of it in actions/ and checks this table).
SESSION_SLOTS: dict[str, tuple[str, ...]] = {
    "action_submit_lead": ("contact_consent",),
    "action_save_optin": ("optin_consent",),
}
# What undoes what in rasa-sdk's ``Tracker.applied_events``: the event kinds each removes, in
# turn, from the applied events before it (each up to and including the first of that kind).
_UNDOES = {"undo": ("action",), "rewind": ("user", "action")}


def tail_start(events: Sequence[Any], action: str,
               describe: Callable[[Any], tuple[str | None, str | None]]) -> int:
    """Where the events an action call sends begin: every reading of the events the actions
    and rasa-sdk make gives the same answer on ``events[start:]`` as on all of them.

    ``describe`` gives an event's kind (``"user"``, ``"action"``, ...) and name (an action's or
    a slot's). Walking back from the latest event, the tail holds (each where there is one):

    * the latest user message: ``Tracker.get_latest_input_channel`` (actions.common.channel);
    * the latest user message or ``action_listen``: actions.session.asked_for;
    * the latest event that is not a ``SlotSet``: ``Tracker.slots_to_validate`` (the trailing
      ``SlotSet`` run, also after ``add_slots`` appends to it, and that something precedes it);
    * the event actions.conversation.last_action_before_message finds with ``skip`` 0 and 1,
      or the latest ``Restarted`` it meets first: its walk back over ``applied_events()``
      (replayed backwards here: an ``undo`` or ``rewind`` removes the applied events before it,
      nearest first, after those removed by the undos that came after it), which a restart ends;
    * for an action in :data:`SESSION_SLOTS`, the latest ``SessionStarted`` or ``SlotSet`` of
      the slot: actions.session.set_in_this_session.

    Nothing else reads the events (the test checks every reading in actions/ and rasa-sdk's
    Tracker on whole and tail trackers), so the action's events and replies are the same.
    """
    slots = set(SESSION_SLOTS.get(action, ()))
    need_user = need_listen = need_other = applied_walk = True
    demands: list[list[str]] = []  # per undo seen, the kinds it has yet to remove
    users = 0
    i = len(events)
    for event in reversed(events):
        i -= 1
        kind, name = describe(event)
        if kind == "user":
            need_user = need_listen = False
        elif kind == "action" and name == ACTION_LISTEN:
            need_listen = False
        if kind != "slot":
            need_other = False
        if kind == "session_started":
            slots.clear()
        elif kind == "slot":
            slots.discard(name)
        if applied_walk:
            if kind == "restart":
                applied_walk = False
            elif kind in _UNDOES:
                demands.append(list(_UNDOES[kind]))
            elif demands:  # removed from the applied events by the latest undo still going
                if kind == demands[-1][0]:
                    demands[-1].pop(0)
                    if not demands[-1]:
                        demands.pop()
            elif kind == "user":
                users += 1
            elif users > 1 and kind == "action" and name != ACTION_LISTEN:
                applied_walk = False  # found with skip=1 (and skip=0 at or after it)
        if not (need_user or need_listen or need_other or applied_walk or slots):
            return i
    return 0


def _describe_event(event: Any) -> tuple[str | None, str | None]:
    """A Rasa event's kind and name, as rasa-sdk sees them in its JSON."""
    kind = event.type_name
    if kind == "action":
        return kind, event.action_name
    if kind == "slot":
        return kind, event.key
    return kind, None


def _record(action: str, error: str) -> None:
    failure = _failure.get()
    if failure is not None:
        failure.setdefault("action", action)
        failure.setdefault("error", error)


def call_timeout() -> float:
    return float(os.environ.get("ACTION_CALL_TIMEOUT") or DEFAULT_TIMEOUT)


def install() -> None:
    """Patch Rasa's action calls (once per process)."""
    global _installed
    if _installed:
        return
    import rasa.core.actions.action as action_module
    from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.core.utils import AvailableEndpoints
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import BotUttered
    from rasa.shared.exceptions import RasaException

    from bot.messages import msg

    action_module.DEFAULT_REQUEST_TIMEOUT = call_timeout()
    # Forms' validation trackers from the incremental tracker's copy (channels/tracker.py).
    from channels import tracker as incremental_tracker

    incremental_tracker.install()
    read_endpoints = AvailableEndpoints.read_endpoints.__func__

    def kept_alive_endpoints(cls, endpoint_file):  # noqa: ANN001, ANN202
        endpoints = read_endpoints(cls, endpoint_file)
        endpoints.action = KeptAliveEndpoint.of(endpoints.action)
        return endpoints

    AvailableEndpoints.read_endpoints = classmethod(kept_alive_endpoints)
    remote_run = RemoteAction.run
    call_format = RemoteAction._action_call_format

    def slim_call_format(self, tracker, domain):  # noqa: ANN001, ANN202
        # Rasa's body, with its tracker's events left out (EventVerbosity.NONE: every other
        # field as Rasa computes it), then the tail every reading needs, slimmed.
        body = call_format(self, _NoEvents(tracker), domain)
        events = tracker.events
        start = tail_start(events, self.name(), _describe_event)
        tail = list(itertools.islice(events, start, None))
        body["tracker"]["events"] = slim_events([e.as_dict() for e in tail])
        return body
    run_action = MessageProcessor._run_action
    handle_message = MessageProcessor.handle_message

    from actions.language_signal import may_change

    async def guarded_remote_run(self, output_channel, nlg, tracker, domain):  # noqa: ANN001, ANN202
        if self.name() == LANGUAGE_ACTION and not may_change(
            tracker._latest_message_data() or {},
            tracker.get_slot("language"),
            tracker.active_loop.name if tracker.active_loop else None,
            tracker.get_slot("requested_slot"),
        ):
            return []  # what the action returns for such a message, without the HTTP hop
        turn = _turn.get()
        if turn is not None and turn.get("down"):
            # Failed once in this message already: fail at once, not after another timeout.
            _record(self.name(), turn["down"])
            raise RasaException(f"Failed to execute custom action '{self.name()}'")
        try:
            return await remote_run(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise
        except Exception as exc:
            error = _error_type(exc)
            _record(self.name(), error)
            if turn is not None:
                turn["down"] = error
            if isinstance(exc, RasaException):
                raise
            # A timeout is not a RasaException: Rasa's slot extraction (a custom slot mapping's
            # action) lets only those through, and would end the turn in silence.
            raise RasaException(f"Failed to execute custom action '{self.name()}'") from exc

    async def guarded_handle_message(self, message):  # noqa: ANN001, ANN202
        token = _turn.set({})
        try:
            return await handle_message(self, message)
        finally:
            _turn.reset(token)

    async def guarded_run_action(self, action, tracker, output_channel, nlg, prediction):  # noqa: ANN001, ANN202
        failure: dict[str, Any] = {}
        token = _failure.set(failure)
        try:
            carry_on = await run_action(self, action, tracker, output_channel, nlg, prediction)
        finally:
            _failure.reset(token)
        if not failure:
            return carry_on
        log.warning("action server call for %s failed (%s); the patient was asked to resend",
                    failure["action"], failure["error"])
        text = msg("action_failed", tracker.get_slot("language") or "en")
        tracker.update(BotUttered(text))
        await output_channel.send_response(tracker.sender_id, {"text": text})
        tracker.trigger_followup_action(ACTION_LISTEN_NAME)
        return True

    RemoteAction.run = guarded_remote_run
    RemoteAction._action_call_format = slim_call_format
    RemoteAction._validate_action_result = checked_once(RemoteAction)
    MessageProcessor._run_action = guarded_run_action
    MessageProcessor.handle_message = guarded_handle_message
    _installed = True


class _NoEvents:
    """The tracker, for Rasa's ``_action_call_format``, whose ``current_state`` serialises no
    event (``EventVerbosity.NONE``): Rasa's call asks for all of them (``ALL``), and the call
    sends only a tail (:func:`tail_start`). Everything else is the tracker's own."""

    def __init__(self, tracker: Any) -> None:
        self._tracker = tracker

    def current_state(self, event_verbosity: Any = None) -> dict[str, Any]:
        from rasa.shared.core.trackers import EventVerbosity

        return self._tracker.current_state(EventVerbosity.NONE)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tracker, name)


def checked_once(remote_action: type) -> Any:
    """``RemoteAction._validate_action_result`` with the response schema checked once.

    ``jsonschema.validate`` checks the schema against its meta-schema, builds a validator and
    runs it, on every call; here the validator is built once, of the class ``validate`` picks,
    and a reply it finds an error in is handed to Rasa's own method, which raises Rasa's error.
    """
    from jsonschema.validators import validator_for

    rasa_validate = remote_action._validate_action_result
    schema = remote_action.action_response_format_spec()
    kind = validator_for(schema)
    kind.check_schema(schema)
    validator = kind(schema)

    def validate_action_result(self, result):  # noqa: ANN001, ANN202
        errors = validator.iter_errors(result)
        try:
            if next(errors, None) is None:
                return True
        finally:
            errors.close()  # its reference resolver's scopes are unwound now, not at collection
        return rasa_validate(self, result)

    return validate_action_result


def _error_type(exc: BaseException) -> str:
    """The failure's kind: the type of the error Rasa wrapped, if it did."""
    cause = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}/{type(cause).__name__}" if cause else type(exc).__name__


def main() -> None:
    """``rasa`` with the guard installed: ``python -m channels.action_calls run ...``; the
    server also warms its model up before it listens (channels/warm_up.py)."""
    from channels import warm_up

    install()
    warm_up.install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
