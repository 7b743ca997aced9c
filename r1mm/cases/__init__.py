"""Generators of inputs whose answers are known: report PDFs and calls, CT phantoms, scanned parts,
charts. Samples, benches, the projectors' training data and the tests all draw on these, so a
case means the same thing everywhere. Everything is seeded; nothing is downloaded."""
