"""Scheduler: scheduled notebook runs with papermill (issue #9)."""
