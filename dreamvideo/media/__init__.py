"""The ground floor: pictures and video in and out (ffmpeg, Pillow) and the threads that overlap them with
dreaming. Nothing here knows of styles, models or pipelines."""
