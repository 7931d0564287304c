"""Watch streaming: one JSON line per event, each line's bytes encoded once by the cache.

The stream ends cleanly (the client resumes from the last resourceVersion it saw) when
the timeout passes, the watcher is closed by the cache (lagging, relist), the client
disconnects or the server stops.  A watch from a compacted version is answered as
kube-apiserver answers it: 200, then one ERROR event carrying the 410 Status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import anyio

from cp.endpoints.handlers import Call
from cp.endpoints.http import Receive, encode_json, start_stream
from cp.endpoints.params import parse_list_options, watch_timeout
from cp.endpoints.table import table
from cp.meta.fields import escape_value, parse_field_selector
from cp.meta.status import ApiError
from cp.storage import Gone, StorageError, Unavailable, WatchEvent
from cp.storage.events import BOOKMARK, ERROR, frame


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            scope.cancel()
            return


async def _cancel_when(event: anyio.Event, scope: anyio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def error_frame(error: ApiError) -> bytes:
    return frame(ERROR, encode_json(error.status))


def _table_encoder(call: Call) -> Callable[[WatchEvent], bytes]:
    """Table watches (kubectl get -w) print ages, so each event is encoded per stream."""
    kind = call.storage.rdef.kind
    include = call.include_object

    def encode(event: WatchEvent) -> bytes:
        meta = {"resourceVersion": str(event.rv)}
        objects = [] if event.type == BOOKMARK else [event.object]
        return frame(event.type, encode_json(table(kind, objects, meta, include_object=include)))

    return encode


async def handle_watch(call: Call, stopping: anyio.Event) -> None:
    rdef = call.storage.rdef
    options = parse_list_options(call.request, rdef, watch=True)
    if call.info.name:
        selector = call.request.param("fieldSelector") or ""
        pinned = f"metadata.name={escape_value(call.info.name)}"
        options = replace(
            options, fields=parse_field_selector(f"{selector},{pinned}" if selector else pinned)
        )
    filter_ = call.storage.filter(call.info.namespace, options.labels, options.fields)
    as_table = _table_encoder(call) if call.table else None
    send = call.send
    try:
        watcher = await call.storage.watch(
            filter_,
            rv=options.rv,
            match=options.match,
            send_initial_events=options.send_initial_events,
            bookmarks=options.bookmarks,
        )
    except Gone as exc:
        await start_stream(send, 200)
        await send(
            {
                "type": "http.response.body",
                "body": error_frame(call.translate(exc)),
                "more_body": False,
            }
        )
        return
    except StorageError as exc:
        raise call.translate(exc) from exc
    await start_stream(send, 200)
    final = b""
    async with watcher:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_cancel_on_disconnect, call.request.receive, tg.cancel_scope)
            tg.start_soon(_cancel_when, stopping, tg.cancel_scope)
            with anyio.move_on_after(watch_timeout(options)):
                try:
                    async for event in watcher:
                        body = event.frame if as_table is None else as_table(event)
                        await send({"type": "http.response.body", "body": body, "more_body": True})
                except Unavailable as exc:
                    final = error_frame(call.translate(exc))
            tg.cancel_scope.cancel()
    await send({"type": "http.response.body", "body": final, "more_body": False})
