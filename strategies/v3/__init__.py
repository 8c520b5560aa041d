"""V3 Combined Logic: routing, consensus gate and multiplier, dual orders, reversals, exits (facts §2.1-2.7)."""
