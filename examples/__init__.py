"""Example applications built with flask-actions."""
