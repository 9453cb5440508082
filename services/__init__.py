"""The four services: gateway, booking, payments, notifications."""
