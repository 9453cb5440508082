"""The email wing: events become email rows (handlers.py), rendered from templates/ (rendering.py) and sent over
SMTP (smtp.py) by Celery tasks (tasks.py); reminders and gift vouchers are planned (reminders.py, pure) and
rendered at send time from the booking/clinic projection (projection.py). store.py holds the sends' SQL;
mailbox.py reads the development SMTP sink."""
