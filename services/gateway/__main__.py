from services.gateway.app import SERVICE, create_app
from services.gateway.settings import GatewaySettings
from shared.config import load_settings
from shared.web import run_service

run_service(create_app, SERVICE, load_settings(GatewaySettings))
