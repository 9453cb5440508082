from services.web.app import SERVICE, create_app
from services.web.settings import WebSettings
from shared.config import load_settings
from shared.web import run_service

run_service(create_app, SERVICE, load_settings(WebSettings))
