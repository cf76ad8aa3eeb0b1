"""A track's life cycle: the allowed status transitions and the one decision vocabulary (`tracks.lifecycle`)."""
