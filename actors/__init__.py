"""Actors: one module per actor kind. Each actor runs in its own OS process under a supervisor; actors talk by message passing only (see actors/messages.py)."""
