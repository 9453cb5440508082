"""Development-only stand-ins for external services: the offline Stripe server and the SMTP sink."""
