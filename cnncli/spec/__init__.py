"""Spec text to IR: YAML with locations (yamlsrc), safe expressions (expr), blocks, repeat and
composites resolved to layer nodes (resolve, ir), files, variants and overrides (load), and
the shipped zoo found by name (zoo). Imports errors and layers only; never torch."""
