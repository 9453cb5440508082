"""Booking service: catalogue, therapists, availability, holds and bookings."""
