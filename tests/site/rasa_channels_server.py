"""Rasa's HTTP server, built as ``rasa run`` builds it, with this project's channels and no model.

``python -m tests.site.rasa_channels_server --credentials FILE --port N --cors ORIGIN...`` runs
Rasa's own ``configure_app`` (its CORS set-up, its channel registration) on the credentials file
``bot/deploy/credentials.py`` writes; only the agent is a stand-in, so that tests of what the
connectors refuse, cap and limit run in seconds instead of after a model load. The stand-in
answers every message that reaches it with one reply naming the turn, so a test sees whether a
message became a turn. The whole stack with the trained model is tested in tests/e2e.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.run import configure_app, create_http_input_channels

TURN = "turn:"


class NoTrackers:
    """No conversation has a tracker yet (the Twilio connector looks for buttons in one)."""

    async def retrieve(self, _sender_id: str) -> None:
        return None


class TurnAgent:
    """Stands in for Rasa's agent: each message it gets is a turn, answered ``turn: <n>``."""

    tracker_store = NoTrackers()

    def __init__(self) -> None:
        self.turns = 0

    async def handle_message(self, message: UserMessage) -> None:
        self.turns += 1
        if message.output_channel is not None:
            text = f"{TURN} {self.turns} ({len(message.text or '')} characters)"
            await message.output_channel.send_text_message(message.sender_id, text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cors", nargs="*", default=None)
    args = parser.parse_args(argv)
    channels = create_http_input_channels(None, args.credentials)
    app = configure_app(channels, cors=args.cors, enable_api=False, port=args.port)
    # Sockets the tests left open (socket.io tabs) would hold the stop for Sanic's default 15 s.
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 1.0

    async def set_agent(running: Any, _loop: Any) -> None:
        running.ctx.agent = TurnAgent()

    parent = os.getppid()

    async def stop_with_the_tests(running: Any) -> None:
        """A test run that is killed cannot stop its server: it stops itself."""
        while os.getppid() == parent:
            await asyncio.sleep(1)
        running.stop()

    app.register_listener(set_agent, "before_server_start")
    app.add_task(stop_with_the_tests)
    app.run(host="127.0.0.1", port=args.port, access_log=False, workers=1)
    # The server has stopped and nothing is left to write; the interpreter's own exit, tearing
    # down TensorFlow and the rest of Rasa's imports, would keep the test that stopped it
    # waiting 4-5 s more (measured), so this process ends here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
