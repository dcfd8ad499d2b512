"""Training the network a spec describes; imports everything below it: model, analysis, spec,
errors.

datasets (one module per family), data (choosing and fitting a dataset to a network), recipe
(the training options), devices (the device and, under torchrun, the process group), batches
(splits on the device, sample order, augmentation, the evaluation pass), schedule (learning
rate per step, the optimiser), loop (the trainer: epochs, checkpoints, metrics), run (run
folders, resume), progress (what a run prints), infer (eval and predict), bench (measured
speed and memory), calibrate (microbenchmarks fitted into a device profile),
calibrate_cases (the layers and shapes it times), plots
(curves); task (classification or segmentation, read from the
network's output), metrics (pixel accuracy and mIoU from a confusion matrix), seginfer (a
segmentation network's predicted mask PNGs and eval scores).

The enumerations the CLI offers live here (or in spec.recipe), free of torch, so that listing
them loads nothing."""

#: a dataset's splits
SPLITS = ("train", "test")
#: where bench measures: auto is CUDA when available, else the CPU
BENCH_DEVICES = ("auto", "cpu", "cuda")
