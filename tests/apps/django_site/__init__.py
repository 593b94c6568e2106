"""A minimal Django project for the end-to-end tests: no database."""
