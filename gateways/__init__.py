"""Adapters to the outside world behind small interfaces (broker, telegram, http, storage). Gateways know nothing of actors."""
