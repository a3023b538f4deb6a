"""The answer engine: corpus → index → retrieval → verdict → answer, behind one facade
(:class:`bot.engine.service.Bot`). It imports no front end, web or chat framework."""
