"""A queue stored in a managed dict, read back on every Python from 3.6.

Python 3.6 to 3.8, 3.9.0 to 3.9.6 and 3.10's pre-releases before 3.10.0b4 fail
here with
``TypeError: AutoProxy() got an unexpected keyword argument 'manager_owned'``
(bpo-30256, fixed in 3.9.7 and 3.10). On those versions the patch below does
what the fix does: ``AutoProxy`` takes ``manager_owned`` and keeps it, where a
proxy is rebuilt from its pickle. It runs on import, outside the main guard, so
that the manager's process gets it too (under spawn and forkserver that process
imports this module anew).
"""

import functools
import multiprocessing
import multiprocessing.managers
import os
import sys

BEFORE_THE_FIX = sys.version_info < (3, 9, 7) or (
    (3, 10) <= sys.version_info < (3, 10, 0, "beta", 4)
)
if BEFORE_THE_FIX:
    _auto_proxy = multiprocessing.managers.AutoProxy
    _rebuild_proxy = multiprocessing.managers.RebuildProxy

    def _auto_proxy_taking_manager_owned(
        token, serializer, manager=None, authkey=None, exposed=None, incref=True,
        manager_owned=False,
    ):  # fmt: skip
        # A proxy the manager owns does not count itself (BaseProxy._incref).
        proxy = _auto_proxy(
            token, serializer, manager, authkey, exposed, incref and not manager_owned
        )
        proxy._owned_by_manager = manager_owned
        return proxy

    @functools.wraps(_rebuild_proxy)  # proxies are pickled with this function's name
    def _rebuild_proxy_taking_manager_owned(func, token, serializer, kwds):
        if func is _auto_proxy:
            func = _auto_proxy_taking_manager_owned
        return _rebuild_proxy(func, token, serializer, kwds)

    multiprocessing.managers.RebuildProxy = _rebuild_proxy_taking_manager_owned


def main():
    context = multiprocessing.get_context(os.environ.get("MPGUIDE_START_METHOD"))
    with context.Manager() as manager:
        queues = manager.dict()
        queues["jobs"] = manager.Queue()
        queues["jobs"].put("hello")
        print("a queue stored in a managed dict gives:", queues["jobs"].get())


if __name__ == "__main__":
    main()
