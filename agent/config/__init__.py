"""Telegraf's config language: sources (file, URL, embedded default), variables, secrets, and
validation of every key before anything runs."""
