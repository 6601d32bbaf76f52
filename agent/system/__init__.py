"""The operating system boundary: systemd notify and credentials, logging dialects, the
stdout guard."""
