"""Front ends: thin adapters that parse input, call the engine's ``Bot`` and format its answer
(``cli``, ``api``, ``slack``, ``batch``). Nothing in :mod:`bot.engine` imports them."""
