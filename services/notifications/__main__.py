from services.notifications.app import SERVICE, create_app
from services.notifications.settings import NotificationsSettings
from shared.config import load_settings
from shared.web import run_service

run_service(create_app, SERVICE, load_settings(NotificationsSettings))
