"""The clinic dashboard (/clinic/…): staff sign in, and every page is a client of the clinic API through the
gateway with the signed-in staff member's bearer token. session.py keeps who is signed in, api.py calls the
API, pages.py renders the shell (home, staff) and the sign-in, sign-out and set-password pages on it."""
