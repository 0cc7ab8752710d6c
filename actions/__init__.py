"""Rasa custom actions: thin adapters between Rasa's tracker and the ``bot`` package.

No business rule lives here. Modules import nothing heavy at import time and keep no
per-conversation state: the action server shares one instance of each action between everyone.
"""
