"""The storefront: server-rendered pages for customers, a client of our own public API."""
