"""Noise processes (DDPM, flow matching) and the samplers that run them; no networks here."""
