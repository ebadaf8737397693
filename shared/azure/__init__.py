"""Real Azure SDK adapters for the ports in shared.ports. The only package that imports azure.*.

Modules here import the SDKs lazily (inside constructors/factories) so that importing them, and
everything that imports the ports, stays cheap on a Functions cold start.
"""
