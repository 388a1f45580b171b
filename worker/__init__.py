"""Celery side: the app wired to Flask, job tasks, and the beat schedule."""
