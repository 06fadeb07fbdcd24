"""Per-request samplers. Greedy requests need none: the decoder takes one vectorised argmax
over all greedy rows of a step. Everything else gets a llama.cpp sampler chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from ..base import ChatRequest
from .native import llama

PENALTY_WINDOW = 64
RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp picks a random seed


@dataclass(frozen=True)
class SamplingDefaults:
    temperature: float = 1.0
    top_p: float = 1.0


def is_greedy(request: ChatRequest, defaults: SamplingDefaults) -> bool:
    sampling = request.sampling
    temperature = defaults.temperature if sampling.temperature is None else sampling.temperature
    penalties = (
        sampling.presence_penalty or sampling.frequency_penalty or (sampling.repetition_penalty not in (None, 1.0))
    )
    return temperature <= 0.0 and not penalties


def build_chain(request: ChatRequest, defaults: SamplingDefaults, n_vocab: int) -> int:
    """A sampler chain for a non-greedy request; free it with ``llama_sampler_free``."""
    sampling = request.sampling
    temperature = defaults.temperature if sampling.temperature is None else sampling.temperature
    top_p = defaults.top_p if sampling.top_p is None else sampling.top_p
    chain = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())
    add = llama.llama_sampler_chain_add
    if sampling.presence_penalty or sampling.frequency_penalty or sampling.repetition_penalty not in (None, 1.0):
        add(
            chain,
            llama.llama_sampler_init_penalties(
                n_vocab,
                PENALTY_WINDOW,
                sampling.repetition_penalty or 1.0,
                sampling.frequency_penalty or 0.0,
                sampling.presence_penalty or 0.0,
            ),
        )
    if temperature <= 0.0:
        add(chain, llama.llama_sampler_init_greedy())
        return cast(int, chain)
    if sampling.top_k:
        add(chain, llama.llama_sampler_init_top_k(sampling.top_k))
    if top_p < 1.0:
        add(chain, llama.llama_sampler_init_top_p(top_p, 1))
    if sampling.min_p:
        add(chain, llama.llama_sampler_init_min_p(sampling.min_p, 1))
    add(chain, llama.llama_sampler_init_temp(temperature))
    seed = RANDOM_SEED if sampling.seed is None else sampling.seed & 0xFFFFFFFF
    add(chain, llama.llama_sampler_init_dist(seed))
    return cast(int, chain)
