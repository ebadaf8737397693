"""Card previews (PNG) for the CLI and the demo; the implementation lives with the other file I/O."""

from shared.local.card_files import PreviewUnavailable, render_card, render_card_pngs

__all__ = ["PreviewUnavailable", "render_card", "render_card_pngs"]
