"""The Celery worker shared by both wings: the app, its configuration, beat schedule and process hooks
(celery_app.py), the asyncio runtime its task threads run on (runtime.py), and the task a consumer batch
starts (batch.py)."""
