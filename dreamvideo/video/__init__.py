"""Video pipelines over the media ground floor: the render (render.py, split.py), its resume state and outputs
(state.py, output.py), and the zoom feedback loop (zoom.py)."""
