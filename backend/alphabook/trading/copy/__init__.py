"""Copy trading (issue #6): signal providers, followers' subscriptions, mirroring, metrics, verification, billing.

Importing this package registers the mirroring listeners with :mod:`alphabook.trading.events`: wherever the
schema is loaded (``alphabook.models`` imports the tables here) and in the API (its routes import the services).
A process that writes orders or fills without either must ``import alphabook.trading.copy`` first.
"""

from alphabook.trading.copy import mirror as mirror  # registers the order and fill listeners
