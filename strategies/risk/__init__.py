"""Account risk: tiers, pip math, stop distances, lot sizing and the account trading state. Pure functions only."""
