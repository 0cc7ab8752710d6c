"""Settings from the environment, with ``.env`` read once (python-dotenv).

Real environment variables win over ``.env``, so tests and deployments can override any value.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def load_settings() -> bool:
    """Read ``.env`` from the project root once; True if one was found.

    ``DOTENV_DISABLED=1`` skips the file (the tests set every value they need themselves).
    """
    if os.environ.get("DOTENV_DISABLED") == "1":
        return False
    return load_dotenv(PROJECT_ROOT / ".env", override=False)
