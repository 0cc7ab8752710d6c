"""The staff console: the study site's view of the queue, transcripts, the funnel and the audit
trail, served on localhost behind a sign-in (``python -m bot console``).

The app factory is :func:`bot.console.app.create_app`; this package's ``__init__`` imports nothing,
so that ``bot.db`` can load the console's tables without loading Flask.
"""
