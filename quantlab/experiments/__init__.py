"""Experiments and the store (layer 5): sweep specs (:mod:`.spec`, with the shipped ``specs/*.toml``),
the result store (:mod:`.store`, :mod:`.lock`, :mod:`.environment`), where trials run
(:mod:`.executors`) and sweeps (:mod:`.sweep`), the only code that trains on request and writes the
store."""
