"""The limits of a generation request. Apart from the sampler (`sample.py`, which imports torch) so that the
request's validation on pages, in the API and in commands does not import torch."""

MAX_BARS = 256
MIN_TEMPO, MAX_TEMPO = 20.0, 400.0
