"""DreamBench evaluation: generate every (subject, prompt, sample), score with DINO, CLIP-I and CLIP-T.

Modules, in the order a run uses them: ``dreambench`` (subjects and prompts), ``worklist`` (seeded
requests, shards, output paths), ``generation`` (resumable image generation through a small
``ImageGenerator`` interface) with ``pipeline_generator`` (the adapter for ``BlipDiffusionPipeline``),
``transforms``/``encoders``/``metrics``/``scoring`` (features and similarities), then ``report``,
``plot`` and ``grids``. ``runner`` ties them together for the command line.
"""
