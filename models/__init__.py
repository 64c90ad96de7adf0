"""The trained models, installed as the package `monitor.models` (see monitor/modelfiles.py)."""
