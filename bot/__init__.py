"""Support-triage bot: answers "is X supported?" from vendors' support-policy documents.

The public entry point is :class:`bot.service.Bot` (``Bot.open(settings).answer(question)``);
every front end (CLI, HTTP API, Slack, batch) is a thin adapter over it.
"""

__version__ = "0.1.0"
