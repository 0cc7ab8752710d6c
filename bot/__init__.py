"""The pre-screener's domain: protocols, the eligibility engine, storage, the staff console.

Nothing in this package imports Rasa; ``actions/`` adapts it to Rasa.
"""
