"""The HTTP API: an app factory, request dependencies and one thin routes module per domain."""
