"""The small web layer under the studio and the live page: ``guard`` (the middleware between a page and
every other website, host name and user) and ``server`` (the token policy, a listening socket, the printed
address, uvicorn in the foreground or on a thread). Needs Starlette and uvicorn (the studio's extra)."""
