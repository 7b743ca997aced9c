"""Soft tokens: media latents reach the decoder as input embeddings (tiny decoder, real MiniLM)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from r1mm import Workspace
from r1mm.decoder.grounded import Draft, prompt_for
from r1mm.decoder.soft import MARKER, SoftProjector, fit, prompt_embeddings, training_sentences
from r1mm.encoders.text import embed_batch
from r1mm.types import Evidence, Locator


def test_the_projector_maps_a_sentence_vector_near_its_words(tiny_decoder):
    model, tok = tiny_decoder.model, tiny_decoder.tokenizer
    sentences = training_sentences(limit=300)
    train, held = sentences[:-40], sentences[-40:]
    weights = fit(model, tok, train, embed_batch(train))
    projected = SoftProjector(weights)(embed_batch(held))
    embed = model.get_input_embeddings()
    with torch.no_grad():
        targets = torch.stack([embed(tok(s, return_tensors="pt", add_special_tokens=False).input_ids[0]).mean(0)
                               for s in held])
    cos = torch.nn.functional.cosine_similarity
    matched = cos(projected, targets).mean()
    shuffled = cos(projected, targets.roll(7, dims=0)).mean()
    assert matched > shuffled + 0.02, (float(matched), float(shuffled))


def test_a_media_evidence_line_carries_one_soft_token_that_the_decoder_reads(tiny_decoder):
    model, tok = tiny_decoder.model, tiny_decoder.tokenizer
    evidence = [Evidence("E1", "Dent 1: 1.5 mm deep.", Locator("plate.ply")),
                Evidence("E2", "A pointcloud region that matches the question (similarity 0.71)",
                         Locator("plate.ply", region=(0, 0, 0, 1, 1, 1)), latent=np.ones(384, np.float32))]
    prompt = prompt_for("Where is the dent?", evidence, media=True)
    assert prompt.count(MARKER) == 1 and MARKER not in prompt_for("Where is the dent?", evidence)
    soft = torch.randn(1, model.config.hidden_size)
    embeds = prompt_embeddings(model, tok, prompt, soft)
    plain = tok(prompt.replace(f" {MARKER}", ""), return_tensors="pt").input_ids
    assert abs(embeds.shape[1] - (plain.shape[1] + 1)) <= 1  # one soft token in place of the marker
    logits = [model.prefill(None, model.new_cache(), inputs_embeds=prompt_embeddings(model, tok, prompt, s))
              for s in (soft, -soft)]
    assert not torch.allclose(logits[0], logits[1])  # what the soft token says changes the answer


def test_media_search_evidence_reaches_the_decoder_as_a_soft_token(tiny_decoder, samples, tmp_path):
    ws = Workspace()
    ws.add(samples / "plate_scan.ply")  # other media the search must pass over
    ws.add(samples / "revenue_chart.png")
    ws.decoder = tiny_decoder
    stream = ws.ask_stream("Is there a picture of a bar chart?")
    "".join(stream)
    media = [e for e in stream.answer.evidence if e.latent is not None]
    assert media and media[0].locator.source == "revenue_chart.png"
    assert stream.answer.routing.get("prompt_tokens", 0) > 0  # the decoder ran on the soft-token prompt
    assert "latent" not in stream.answer.evidence[0].to_dict()  # never stored or sent


@pytest.mark.slow
def test_the_dent_regions_soft_token_sits_near_surface_words(samples):
    """With the built decoder: the plate's dent region, found by description, reaches the decoder
    as an embedding nearest to words such as "flat" and "surface"."""
    from r1mm.decoder import load_grounded
    from r1mm.decoder.soft import nearest_words

    decoder = load_grounded()
    ws = Workspace()
    ws.add(samples / "plate_scan.ply")
    match = ws.search("a dent in a flat surface", k=1)[0]
    words = {w.lower() for w in nearest_words(decoder.model, decoder.tokenizer, decoder.soft_projector(),
                                              match.vector, k=12)}
    assert words & {"flat", "surface", "dent", "plate"}, words
