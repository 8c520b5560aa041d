"""Legacy V4 ("ZepixPremium"): trend stores with AUTO/MANUAL locks, aligned entries, exits, reversals (facts §1.4,
§2.5-2.6), and the bridge that lets it handle V3 alerts while combined_v3 is on its fallback."""
