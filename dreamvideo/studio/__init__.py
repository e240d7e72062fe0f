"""`dreamvideo studio`: a local web page to find a style on your own footage, preview it and render.

Needs the optional extra: ``pip install "dreamvideo[studio]"`` (Starlette and uvicorn).
"""
