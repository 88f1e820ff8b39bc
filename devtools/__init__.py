"""Development servers and tools. Never imported by the product, never in the production image."""
