"""The static walk of the IR and everything that shows it; imports errors, layers and spec,
never torch.

analyze (a fold over the resolved IR: counts, memory and receptive field per layer; rf the
receptive field's arithmetic),
training (what training keeps: gradients, optimizer state, saved activations), breakdown (by
layer, block and type), report (the summary as table, JSON, CSV and Markdown), table (the
text renderer that fits a terminal), zoolist (`cnncli list`), explain and lessons (each
figure's arithmetic, design notes), compare (networks and sweeps side by side), diagram,
diagram_tree, diagram_header, diagram_graph (reads as edges, the U layout) and diagram_html
(SVG and the HTML page; diagram.js draws in the browser what diagram's layout placed),
figures (plot axes in K/M/G), choices (the options' choices: dtypes, formats, optimizers,
devices; what declaring a command imports), profile (device profiles: calibrated ones in the
user cache, published GPU ones in profiles/) and timing (each layer's predicted time on a
profile's device)."""
