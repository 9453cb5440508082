"""The clinic webhook wing: the rules with no I/O (rules.py), the clinic API for endpoints, secrets and the
delivery log (routes.py), the fan-out of events into delivery rows (handlers.py), one signed attempt
(delivery.py), the Celery tasks that attempt and dispatch (tasks.py), and all their SQL (store.py)."""
