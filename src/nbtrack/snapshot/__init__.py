"""Values -> content-addressed objects (figures here; data and models in later modules)."""
