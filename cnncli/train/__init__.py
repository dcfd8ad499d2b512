"""Training the network a spec describes: datasets (one module per family), the recipe of
options (recipe), the training and evaluation loop (loop), run folders, resume and predict
(run), and curves (plots). Imports everything below it: model, analysis, spec, errors."""
