"""Monitoring: drift against a model's own training data, data contracts,
performance over time, alert rules with sinks, and retraining through a gate.

Modules: :mod:`.profile` / :mod:`.stats` (the statistics), :mod:`.drift`
(``nbtrack.drift``), :mod:`.report`, :mod:`.validate` (``nbtrack.validate``,
``nbtrack.contract``), :mod:`.evaluate`, :mod:`.rules`, :mod:`.sinks`,
:mod:`.retrain`, :mod:`.check` (``nbtrack monitor check``).
"""
