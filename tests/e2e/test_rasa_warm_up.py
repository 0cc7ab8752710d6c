"""The Rasa server warms its model up when it starts (channels/warm_up.py): Jieba's dictionary is
built then, not at a patient's first Chinese message."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

JIEBA_BUILT = "Prefix dict has been built"
WARMED_UP = "model warmed up: first parse took"


def test_the_model_is_warmed_up_at_start_and_a_chinese_message_builds_nothing(stack):
    # A Chinese message through the real channel: the dictionary must not be built for it.
    replies = stack.talk("warm-up-zh", "你好")
    assert replies, "the bot did not answer a Chinese greeting"
    log = (stack.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    # One warm-up per Rasa start (a fault test may have restarted it), each after its process
    # built Jieba's dictionary, and no build after the last: not for the message above.
    *starts, since_last = log.split(WARMED_UP)
    assert starts, "the Rasa server did not warm its model up at start"
    assert all(JIEBA_BUILT in start for start in starts)
    assert JIEBA_BUILT not in since_last
