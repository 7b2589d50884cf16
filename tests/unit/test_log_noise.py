"""The log of a stopping bridge says what happened, not what its libraries felt about being cancelled."""

import io
import json
import logging

from bridge import logs


def test_aiormqs_cancelled_rpc_warning_is_dropped_and_its_other_warnings_kept():
    stream = io.StringIO()
    logs.configure("INFO", "json", stream=stream)
    logs.configure("INFO", "json", stream=stream)  # configured twice (run, then a command): one filter
    channel = logging.getLogger("aiormq.channel")
    try:
        channel.warning("Closing channel %r because RPC call %s cancelled", "<Channel 1>", "<Queue.Declare>")
        channel.warning("Closing channel %r locally because RPC call %s cancelled before Channel.Open was sent",
                        "<Channel 2>", "<Channel.Open>")
        channel.warning("Channel %r was closed by the broker: %s", "<Channel 3>", "PRECONDITION_FAILED")
    finally:
        logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers if not getattr(h, "_bridge", 0)]
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["msg"] for line in lines] == ["Channel '<Channel 3>' was closed by the broker: PRECONDITION_FAILED"]
    assert len(channel.filters) == 1
