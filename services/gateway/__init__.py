"""Gateway: the one public entry point; routes the API to the services and serves the pages."""
