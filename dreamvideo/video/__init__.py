"""Video: streaming ffmpeg I/O, the render loop with temporal coherence."""
