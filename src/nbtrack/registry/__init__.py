"""Model registry and notebook approval: versions, aliases, gated promotion, rollback, audit.

Everything that changes the registry goes through one write transaction that
also appends an :mod:`event <nbtrack.registry.events>` (who, when, what, why).
"""
