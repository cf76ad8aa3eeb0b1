"""Signals the screening app sends about a track's screening; the tracks app moves the track on (`tracks.receivers`).

Both are sent inside the transaction of the change they announce, so a receiver's writes commit or roll back
with it, and a receiver's error (a forbidden transition) undoes the screening's writes too.
"""

from django.dispatch import Signal

#: A screening of a track is about to be enqueued. kwargs: `track` (Track).
track_screening_started = Signal()

#: A track's screening recorded its verdict. kwargs: `track` (Track), `verdict` ("clear", "flag" or "incomplete").
track_screened = Signal()
