"""Per-request samplers. Greedy requests need none: the decoder takes one vectorised argmax
over all greedy rows of a step. Everything else gets a llama.cpp sampler chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import llama_cpp as llama

from ..base import ChatRequest

PENALTY_WINDOW = 64
RANDOM_SEED = 0xFFFFFFFF  # LLAMA_DEFAULT_SEED: llama.cpp picks a random seed


@dataclass(frozen=True)
class SamplingDefaults:
    temperature: float = 1.0
    top_p: float = 1.0


def is_greedy(request: ChatRequest, defaults: SamplingDefaults) -> bool:
    temperature = defaults.temperature if request.temperature is None else request.temperature
    penalties = request.presence_penalty or request.frequency_penalty or (request.repetition_penalty not in (None, 1.0))
    return temperature <= 0.0 and not penalties


def build_chain(request: ChatRequest, defaults: SamplingDefaults, n_vocab: int) -> int:
    """A sampler chain for a non-greedy request; free it with ``llama_sampler_free``."""
    temperature = defaults.temperature if request.temperature is None else request.temperature
    top_p = defaults.top_p if request.top_p is None else request.top_p
    chain = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())
    add = llama.llama_sampler_chain_add
    if request.presence_penalty or request.frequency_penalty or request.repetition_penalty not in (None, 1.0):
        add(
            chain,
            llama.llama_sampler_init_penalties(
                n_vocab,
                PENALTY_WINDOW,
                request.repetition_penalty or 1.0,
                request.frequency_penalty or 0.0,
                request.presence_penalty or 0.0,
            ),
        )
    if temperature <= 0.0:
        add(chain, llama.llama_sampler_init_greedy())
        return cast(int, chain)
    if request.top_k:
        add(chain, llama.llama_sampler_init_top_k(request.top_k))
    if top_p < 1.0:
        add(chain, llama.llama_sampler_init_top_p(top_p, 1))
    if request.min_p:
        add(chain, llama.llama_sampler_init_min_p(request.min_p, 1))
    add(chain, llama.llama_sampler_init_temp(temperature))
    seed = RANDOM_SEED if request.seed is None else request.seed & 0xFFFFFFFF
    add(chain, llama.llama_sampler_init_dist(seed))
    return cast(int, chain)
