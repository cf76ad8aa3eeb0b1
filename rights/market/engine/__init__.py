"""Signal code for the loop and stem market: no Django imports here.

`loops` finds bar lines (exactly from a score, or by beat tracking), cuts bar-aligned seamless loops, separates
audio-only material into stems and draws waveform thumbnails. The Django side stores and sells what it returns.
"""
