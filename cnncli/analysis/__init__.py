"""The static walk of the IR: shapes, counts, memory and receptive field per layer (analyze),
cost breakdowns (breakdown), and the tables, JSON, CSV and Markdown that show them (report,
zoolist). Imports errors, layers and spec; never torch."""
