"""One routes module per domain; each is thin: parse, call one service function, shape the answer."""
