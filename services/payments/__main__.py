from services.payments.app import SERVICE, create_app
from services.payments.settings import PaymentsSettings
from shared.config import load_settings
from shared.web import run_service

run_service(create_app, SERVICE, load_settings(PaymentsSettings))
