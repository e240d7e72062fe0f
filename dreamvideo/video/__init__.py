"""Video pipelines over the media ground floor: the render (render.py, split.py), its resume state and outputs
(state.py, output.py), and the zoom feedback loop (zoom.py)."""

# a split render's pieces (split.py), here where the command line reads them without loading the pipelines
MAX_SEGMENT = 30.0  # seconds: the longest piece of a shot (each piece past a shot's first costs a pre-roll)
PRE_ROLL = 2.0  # seconds dreamed before a piece that starts inside a shot: it settles, then fades in
CROSSFADE = 0.5  # of a pre-roll: the share, at its end, cross-faded with the piece before
