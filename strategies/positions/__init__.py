"""Position management: profit-booking chains, SL-hunt / TP / exit continuation re-entry, trailing and split TPs.
Pure state machines: each call takes a state and the time and returns a new state plus actions for the actor."""
