"""The generation engine: token vocabulary, neural models, Markov harmony, anti-copy guard, sampling, training.

Pure PyTorch/numpy; nothing here imports Django, so workers and notebooks can use it directly.
"""
