"""Integrations with frameworks people build on (LangChain). They sit beside the front ends:
they may import the engine, and nothing in ``bot.engine``, ``bot.runtime`` or ``bot.apps``
imports them, so the framework is loaded only by those who use it."""
