"""SMI objects of every version, normalized to one model (``model``), parsed by ``parse``."""
