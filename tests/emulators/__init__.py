"""Local emulators of Azure services used by adapter tests (real TLS, real HTTP, real SDKs)."""
