"""aks-triage: diagnose failed AKS operations (the project's package; all logic lives here).

Layers: events (intake) -> errors (retrieval) -> classify -> checks -> pipeline -> noise/sinks.
Only shared.azure imports Azure SDKs; function_app.py imports only azure.functions.
"""
