"""V6 Price Action: one strategy class, four configurations (DECISIONS §12), and its market-state store."""
