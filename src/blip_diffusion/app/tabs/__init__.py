"""One module per feature; each has ``build(ctx)``, which adds its tab to the open ``gr.Blocks``."""
