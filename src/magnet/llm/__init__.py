"""Talking to models: teachers, the request cache and usage accounting, shared by synthesis and evaluation."""
