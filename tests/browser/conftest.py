"""The browser tests' fixtures (tests/browser/live.py)."""

from tests.browser import live

chromium, browser_page, visitor = live.chromium, live.browser_page, live.visitor
