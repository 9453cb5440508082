"""`python -m shared.dev.fake_stripe`: localstripe (a stateful fake Stripe API) bound to loopback.

localstripe's own CLI listens on every interface and keeps its state in one fixed file shared by
every instance, so we run its app ourselves: bound to FAKE_STRIPE_HOST (127.0.0.1), in memory only,
and with our Stripe webhook endpoint registered at every start (it forgets endpoints on restart).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from aiohttp import web

from shared.config import DEV_WEBHOOK_SECRET, Settings, load_settings
from shared.logs import setup_logging

log = logging.getLogger("fake-stripe")
WEBHOOK_ID = "clinic-gateway"


@dataclass(frozen=True)
class FakeStripeSettings(Settings):
    # What it signs the webhooks it sends with: the payments service's STRIPE_WEBHOOK_SECRET.
    stripe_webhook_secret: str = DEV_WEBHOOK_SECRET


def main() -> None:
    from localstripe import resources, server, webhooks

    settings = load_settings(FakeStripeSettings)
    setup_logging("fake-stripe", settings.log_level)
    # In memory only: two instances (make run beside make test) must not overwrite one shared file.
    resources.Store.dump_to_disk = lambda self: None
    host = os.environ.get("FAKE_STRIPE_HOST", "127.0.0.1")
    port = int(os.environ.get("FAKE_STRIPE_PORT", "8420"))
    webhook_url = os.environ.get("STRIPE_WEBHOOK_URL", f"{settings.public_url}/api/v1/stripe/webhook")
    webhooks.register_webhook(WEBHOOK_ID, webhook_url, settings.stripe_webhook_secret, None)
    log.info("fake stripe listening", extra={"url": f"http://{host}:{port}", "webhook_url": webhook_url})
    web.run_app(server.app, host=host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
