"""HTTP for the webhook: a sans-IO server protocol on h11 (bytes in, requests out, responses to bytes)."""
