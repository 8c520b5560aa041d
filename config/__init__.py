"""Default configuration (zepix.toml) and its loader/validator."""
