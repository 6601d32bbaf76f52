"""The running agent: schedules, running plugins (filters, tags, precision), fan-out to outputs,
signals and self-stats."""
