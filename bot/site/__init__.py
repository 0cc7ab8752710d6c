"""The study page: the trial from its protocol file and the chat widget on Rasa's socket.io.

``app.create_app`` is the Flask app factory; ``python -m bot site`` serves it (``cli.py``);
``content.py`` turns a protocol into what the page shows.
"""
