"""Over-the-air firmware updates: bundles, the chunks boards pull, and rollouts (docs/ota.md)."""
