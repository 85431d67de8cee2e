"""The function pool: specs, toolkits, calls and their safe execution (no model anywhere in here)."""
