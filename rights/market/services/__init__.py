"""The market's writes, one module per concern: `publishing`, `splitting`, `offers`, `purchases`, `shares`
(revenue) and `downloads`."""
