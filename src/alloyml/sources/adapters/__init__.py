"""Source adapters, one module per source family; each exposes ``adapt(spec, paths)``."""
