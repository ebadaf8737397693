"""Pure renderers: a Finding as Log Analytics rows and as Teams Adaptive Cards. No I/O."""
