"""The original BLIP-Diffusion pipeline (diffusers' deprecated port), made runnable on transformers 5.

Benchmarks only: it is the baseline we measure against, built on the same weights as ours. The
port calls transformers internals that transformers 5 removed or changed; the adapters below
restore the transformers-4 behaviour (including CLIP's causal mask, which a naive fix loses).
"""

from __future__ import annotations

import inspect

import torch


def _modules():
    from diffusers.pipelines.deprecated.blip_diffusion import (
        modeling_blip2,
        modeling_ctx_clip,
        pipeline_blip_diffusion,
    )

    return modeling_blip2, modeling_ctx_clip, pipeline_blip_diffusion


def make_runnable_on_transformers5() -> None:
    from transformers.models.blip_2.modeling_blip_2 import Blip2QFormerAttention
    from transformers.models.clip.modeling_clip import CLIPEncoder

    modeling_blip2, modeling_ctx_clip, _ = _modules()
    qformer = modeling_blip2.Blip2QFormerModel
    if not hasattr(qformer, "invert_attention_mask"):
        def invert_attention_mask(self, mask):
            mask = mask[:, None, None, :] if mask.dim() == 2 else mask[:, None]
            return (1.0 - mask.to(self.dtype)) * torch.finfo(self.dtype).min

        qformer.invert_attention_mask = invert_attention_mask
    if not hasattr(qformer, "get_head_mask"):
        qformer.get_head_mask = lambda self, head_mask, layers, *args: [None] * layers
    if "head_mask" not in inspect.signature(Blip2QFormerAttention.forward).parameters:
        modeling_blip2.Blip2QFormerLayer.forward = _qformer_layer_forward
    if "causal_attention_mask" not in inspect.signature(CLIPEncoder.forward).parameters:

        class CausalCLIPEncoder(CLIPEncoder):
            def forward(self, inputs_embeds, attention_mask=None, causal_attention_mask=None, **unused):
                if causal_attention_mask is not None:
                    attention_mask = causal_attention_mask if attention_mask is None else attention_mask + causal_attention_mask
                return super().forward(inputs_embeds, attention_mask=attention_mask)

        modeling_ctx_clip.CLIPEncoder = CausalCLIPEncoder


def _qformer_layer_forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                           encoder_attention_mask=None, past_key_value=None, output_attentions=False, query_length=0):
    modeling_blip2 = _modules()[0]
    chunk = modeling_blip2.apply_chunking_to_forward
    attended = self.attention(hidden_states, attention_mask=attention_mask)
    queries = attended[:, :query_length]
    if self.has_cross_attention:
        queries = self.crossattention(queries, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                                      encoder_attention_mask=encoder_attention_mask)
    out = chunk(self.feed_forward_chunk_query, self.chunk_size_feed_forward, self.seq_len_dim, queries)
    if attended.shape[1] > query_length:
        text = chunk(self.feed_forward_chunk, self.chunk_size_feed_forward, self.seq_len_dim, attended[:, query_length:])
        out = torch.cat([out, text], dim=1)
    return (out, None)


def build_reference(ours, qformer_tokenizer_dir: str):
    """The original pipeline sharing ``ours``'s UNet, VAE, tokenizer and scheduler config, with copied encoders."""
    make_runnable_on_transformers5()
    modeling_blip2, modeling_ctx_clip, pipeline_module = _modules()
    from diffusers import PNDMScheduler

    blip_config = ours.qformer.config
    blip_config.tokenizer = qformer_tokenizer_dir
    qformer = modeling_blip2.Blip2QFormerModel(blip_config)
    qformer.load_state_dict(ours.qformer.state_dict())
    text_encoder = modeling_ctx_clip.ContextCLIPTextModel(ours.text_encoder.config)
    text_encoder.load_state_dict(ours.text_encoder.state_dict())
    processor = pipeline_module.BlipImageProcessor()
    pipe = pipeline_module.BlipDiffusionPipeline(
        tokenizer=ours.tokenizer, text_encoder=text_encoder, vae=ours.vae, unet=ours.unet,
        scheduler=PNDMScheduler.from_config(ours.scheduler.config), qformer=qformer, image_processor=processor,
        ctx_begin_pos=2, mean=ours.image_processor.mean.tolist(), std=ours.image_processor.std.tolist(),
    )
    return pipe.to(device=ours.unet.device, dtype=ours.unet.dtype)
