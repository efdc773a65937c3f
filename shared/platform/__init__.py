"""Process-wide plumbing every layer may use: settings, logs, clock, ids, errors."""
