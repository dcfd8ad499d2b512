"""Training the network a spec describes; imports everything below it: model, analysis, spec,
errors.

datasets (one module per family), data (choosing and fitting a dataset to a network), recipe
(the training options), loop (devices, processes, the training and evaluation loop), run (run
folders, resume), progress (what a run prints), infer (eval and predict), bench (measured
speed and memory), plots (curves)."""
