"""Trading: demo accounts, orders, risk limits, brokers and copy trading (issue #6)."""
