"""Deployment glue: the environment Rasa needs and the processes ``make run`` starts."""
