"""The Render API: one client (the only httpx user against Render) and its models."""
