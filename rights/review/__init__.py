"""Rights review: reviewers' decisions on similarity flags and the flagged creators' appeals.

The flags themselves (and who may see them) are the screening app's (`fingerprint.models`, `fingerprint.selectors`);
what a decision means for the track is `tracks.lifecycle`.
"""
