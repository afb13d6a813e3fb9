"""The web UI: one Gradio app whose tabs are small modules under ``app/tabs``, one per feature.

``blip-diffusion serve`` loads the pipeline and starts it; ``gradio_app.build_app`` builds it.
"""
