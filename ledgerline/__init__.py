"""Ledgerline: the platform package (the design card's `platform/`; see README for why it is not named so)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
