"""The listeners' HTTP server (cheroot, bounded for a Pi) and what they share: addresses,
server TLS with Telegraf's options, deadlines, requests and Go-exact JSON answers, and the
HTTPListener base with the durable acknowledgement."""
