"""monitor: watches Russian-language news for reports of cooperation."""

__version__ = "0.1.0"
