"""The DAG view: a workflow drawn as a layered graph in the terminal.

``layout`` places jobs and routes edges in character cells (pure, no Textual),
``render`` turns a layout into styled rows, ``widget`` is the Textual widget.
"""
