"""What a running service needs around the engine: settings from ``BOT_*``, keys and rate
limits, logs, input cleaning, index reloads, the feedback store and process memory tuning."""
