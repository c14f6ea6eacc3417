"""Pieces every page shares: the page shell, who is looking, errors in words, charts."""
