from services.booking.app import SERVICE, create_app
from services.booking.settings import BookingSettings
from shared.config import load_settings
from shared.web import run_service

run_service(create_app, SERVICE, load_settings(BookingSettings))
