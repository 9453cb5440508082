"""Notifications service: emails (through Celery) and, later, clinic webhooks; the dev mailbox."""
