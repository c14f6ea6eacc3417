"""Broker adapters: the interface in ``base``, alphabook's paper simulation, ccxt exchanges and Alpaca."""
