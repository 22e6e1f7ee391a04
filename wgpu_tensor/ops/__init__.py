"""The op layer: validation, broadcasting, and which kernel runs with which parameters."""
