"""Spec text to IR; imports errors and layers only, never torch.

yamlsrc (YAML with locations) and yamlwords (its errors in plain words), expr (safe
expressions), blocks, resolve and ir (blocks, repeats and composites resolved to layer nodes,
each recording its shapes and cost), composites (how each composite resolves, the automatic
projection among them) and context (what the resolver passes down, names and values),
graph (`from:`, joins, `like:` and `outputs:`: entries that read named earlier outputs),
sharing (`shares:`: a layer that uses an earlier layer's weights), locate (which file a
reference means), load (files, overrides, includes), snapshot (a spec inside a checkpoint,
restored), recipe (the `train:` section as typed options), variants (a family's
members), eject (a zoo network as a standalone file), freeze (`--freeze`), pretrained (the
`torchvision:` section), zoo (the shipped zoo by name)."""
